"""The demo data set: synthetic 2-D X-ray scattering patterns with known classes.

The patterns are drawn by ``data.demo_patterns``. Files go to class-agnostic folders
(``run_000/img_000123.tif``, 1,000 per folder) and the classes to ``truth.csv``. Every
image is drawn from its own seed, so the output is the same for a seed however the work is
split between processes.

    python -m data.demo FOLDER --n 1000 --size 256 --seed 0 [--gaps] [--float]
"""
from __future__ import annotations

import argparse
import csv
import multiprocessing
import time
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import tifffile

from data.demo_patterns import (DEMO_CLASSES, DTYPES, CountingNoise, Geometry, draw_pattern,
                                features_of, module_gaps)
from settings import usable_cores

FILES_PER_FOLDER = 1000
CHUNK = 250  # images per task of the process pool


# ---------------------------------------------------------------- files

def demo_path(index: int) -> str:
    return f"run_{index // FILES_PER_FOLDER:03d}/img_{index:06d}.tif"


def _write_images(folder: str, size: int, seed: int, gaps: bool, dtype: str,
                  jobs: Sequence[tuple[int, str]]) -> None:
    geometry, noise = Geometry(size), CountingNoise()
    gap_mask = module_gaps(size) if gaps else None
    for index, label in jobs:
        image = draw_pattern(label, geometry, noise, np.random.default_rng([seed, index]),
                             dtype, gap_mask)
        tifffile.imwrite(Path(folder) / demo_path(index), image)


def demo_labels(n_images: int, seed: int, classes: Sequence[str]) -> list[str]:
    """Balanced classes in a seeded random order."""
    labels = [classes[i % len(classes)] for i in range(n_images)]
    np.random.default_rng(seed).shuffle(labels)
    return labels


def generate_demo(folder: Path, n_images: int = 600, size: int = 256, seed: int = 0,
                  gaps: bool = False, dtype: str = "uint16",
                  classes: Optional[Sequence[str]] = None,
                  processes: Optional[int] = None) -> list[tuple[str, str]]:
    """Write ``n_images`` demo TIFFs and ``truth.csv`` under ``folder``; (path, label) pairs.

    The same arguments always give the same files. ``processes`` defaults to the number of
    CPUs (1 for small sets, where starting processes costs more than it saves).
    """
    classes = tuple(classes or DEMO_CLASSES)
    for label in classes:
        features_of(label)
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got '{dtype}'")
    if n_images < 1 or size < 32:
        raise ValueError("the demo needs at least 1 image of at least 32x32 pixels")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    labels = demo_labels(n_images, seed, classes)
    jobs = list(enumerate(labels))
    for start in range(0, n_images, FILES_PER_FOLDER):
        (folder / demo_path(start)).parent.mkdir(exist_ok=True)
    chunks = [(str(folder), size, seed, gaps, dtype, jobs[start:start + CHUNK])
              for start in range(0, n_images, CHUNK)]
    processes = min(processes or usable_cores(), len(chunks))
    # Daemonic processes (e.g. some task-queue workers) may not start children.
    if processes > 1 and not multiprocessing.current_process().daemon:
        # spawn, not fork: the web server may call this from one of its threads.
        with multiprocessing.get_context("spawn").Pool(processes) as pool:
            pool.starmap(_write_images, chunks, chunksize=1)
    else:
        for chunk in chunks:
            _write_images(*chunk)
    truth = [(demo_path(index), label) for index, label in jobs]
    with open(folder / "truth.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label"])
        writer.writerows(truth)
    return truth


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m data.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--n", type=int, default=1000, help="number of images")
    parser.add_argument("--size", type=int, default=256, help="image side in pixels")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gaps", action="store_true", help="detector module gaps")
    parser.add_argument("--float", action="store_true", help="float32 TIFFs (else uint16)")
    parser.add_argument("--classes", help="comma-separated classes (default: all)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    truth = generate_demo(args.folder, args.n, args.size, args.seed, args.gaps,
                          "float32" if args.float else "uint16",
                          args.classes.split(",") if args.classes else None)
    seconds = time.perf_counter() - start
    print(f"{len(truth)} images of {args.size}x{args.size} in {args.folder} "
          f"({seconds:.1f} s); classes in {args.folder / 'truth.csv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
