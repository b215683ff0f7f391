"""The reference paper's transfer experiment (its §4.2 and Fig. 11) through beamlabel's jobs.

1. A "local" collection: --local demo patterns (data.demo) of one size and style in a
   folder; an autoencoder is pre-trained on all of it (autoencoder_train).
2. A "remote" data set of another style (--remote patterns, larger, float32 values,
   detector module gaps, another seed) served by a real Tiled server on loopback behind a
   byte-counting relay; its first --finetune frames form a scan of their own, registered
   as a second data set.
3. On those frames: the pre-trained model fine-tuned (init_model), and the same network
   trained from scratch with the same settings.
4. Each of the three models infers the whole remote data set through Tiled
   (autoencoder_infer: frames strided on the server, streamed, no local copy).

Figures, over the remote images not used for fine-tuning: the Pearson correlation between
each image and its n-th nearest neighbour by cosine distance on a model's features (mean
and standard deviation over the images at ranks 1, 10, 50, 100), next to the brute-force
ranking by the correlation itself; the share of the 10 nearest neighbours of each image
that are of its class; the bytes read from Tiled. The correlation is taken over the images
as the models see them (intensity transform, resized to the model's input).

    python benchmarks/bench_transfer.py [--local 4000] [--remote 1000] [--finetune 166]
        [--plot bench_transfer.png] [--json FILE]

Goals: fine-tuned above from-scratch at every rank, and within 10 % of brute force at rank
10; exit 1 when one is missed. Jobs run in this process through ml.jobs (the code a worker
runs) on a SQLite database in a temporary folder.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import tifffile
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.goals import verdict  # noqa: E402
from data.catalog import register_dataset, scan_dataset  # noqa: E402
from data.demo import generate_demo  # noqa: E402
from data.sources.directory import DirectorySource  # noqa: E402
from data.transforms import Transform  # noqa: E402
from db.models import Item, Job  # noqa: E402
from db.session import open_database, transaction  # noqa: E402
from ml.image_data import load_images  # noqa: E402
from ml.jobs import create_job, execute_job  # noqa: E402
from ml.kinds.context import REMOTE_READ_OVERSAMPLING  # noqa: E402
from settings import Settings  # noqa: E402
from tests.tiled_server import ByteCountingProxy, TiledTestServer  # noqa: E402

RANKS = (1, 10, 50, 100)
KNN = 10
GOAL_SHARE_OF_BRUTE_FORCE = 0.9  # at rank 10
GOAL_RANK = 10
FRAMES_PER_SCAN = 100  # remote frames per Tiled array (a detector scan)
MODELS = ("fine-tuned", "scratch", "pre-trained")
NETWORK = {"image_size": [64, 64], "depth": 3, "base_channels": 16, "latent_dim": 32,
           "batch_size": 32, "learning_rate": 1e-3, "seed": 0}


@dataclass
class Remote:
    """The remote data set's frames as the benchmark wrote them, and their classes."""
    root: str  # the Tiled container holding them
    files: Path  # the generated TIFFs (only to compute the correlations)
    truth: list[tuple[str, str]]  # (file, class) in frame order
    tiled_path: dict[str, tuple[str, int]]  # file -> (array path under the root, frame)


def arguments(argv: Optional[list[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--local", type=int, default=4000, help="pre-training images")
    parser.add_argument("--local-size", type=int, default=128)
    parser.add_argument("--remote", type=int, default=1000, help="remote images")
    parser.add_argument("--remote-size", type=int, default=256)
    parser.add_argument("--finetune", type=int, default=166, help="remote images to tune on")
    parser.add_argument("--pretrain-epochs", type=int, default=20)
    parser.add_argument("--finetune-epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", type=Path, default=Path("bench_transfer.png"))
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args(argv)
    if args.remote - args.finetune <= max(RANKS):
        parser.error(f"--remote must exceed --finetune by more than {max(RANKS)} images")
    return args


# ---------------------------------------------------------------- data

def write_remote(server: TiledTestServer, folder: Path, args) -> Remote:
    """Generate the remote patterns and write them to Tiled as stacks of frames: the first
    ``args.finetune`` as finetune/scan, the rest as bulk/scan_NNN."""
    truth = generate_demo(folder, n_images=args.remote, size=args.remote_size,
                          seed=args.seed + 1, gaps=True, dtype="float32")
    root = server.new_container("remote")
    groups = [("finetune/scan", truth[:args.finetune])]
    rest = truth[args.finetune:]
    groups += [(f"bulk/scan_{start // FRAMES_PER_SCAN:03d}",
                rest[start:start + FRAMES_PER_SCAN])
               for start in range(0, len(rest), FRAMES_PER_SCAN)]
    tiled_path = {}
    for array_path, members in groups:
        stack = np.stack([tifffile.imread(folder / path) for path, _ in members])
        server.write_array(f"{root}/{array_path}", stack, chunk_frames=1)
        tiled_path.update({path: (array_path, frame) for frame, (path, _) in
                           enumerate(members)})
    return Remote(root, folder, truth, tiled_path)


def register(session_factory, settings, name: str, kind: str, location: str,
             api_key: Optional[str] = None) -> int:
    dataset_id = register_dataset(session_factory, settings.data_roots, name, kind, location,
                                  api_key=api_key).id
    scan_dataset(session_factory, dataset_id)
    return dataset_id


def run_job(session_factory, settings, kind: str, dataset_id: int, params: dict) -> Job:
    with transaction(session_factory) as session:
        job_id = create_job(session, kind, dataset_id, params, "benchmark").id
    status = execute_job(session_factory, settings.artifacts_dir, job_id)
    with session_factory() as session:
        job = session.get(Job, job_id)
        if status != "succeeded":
            raise SystemExit(f"{kind} job {job_id} {status}: {job.error}")
        session.expunge(job)
        return job


# ---------------------------------------------------------------- figures

def pearson_matrix(images: np.ndarray) -> np.ndarray:
    """Pearson correlation between every pair of rows of (n, pixels)."""
    centred = images - images.mean(axis=1, keepdims=True)
    centred /= np.maximum(np.linalg.norm(centred, axis=1, keepdims=True), 1e-12)
    return centred @ centred.T


def neighbour_order(similarity: np.ndarray, count: int) -> np.ndarray:
    """(n, count) indices of each row's most similar other rows, most similar first."""
    similarity = similarity.copy()
    np.fill_diagonal(similarity, -np.inf)
    return np.argsort(-similarity, axis=1, kind="stable")[:, :count]


def cosine_similarity(vectors: np.ndarray) -> np.ndarray:
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return unit @ unit.T


def ranking_figures(order: np.ndarray, correlation: np.ndarray, classes: np.ndarray) -> dict:
    """Correlation with the n-th neighbour (n = 1..count) and the same-class share of the
    KNN nearest, for a neighbour ``order``."""
    at_rank = np.take_along_axis(correlation, order, axis=1)  # (images, ranks)
    return {"mean": at_rank.mean(axis=0), "std": at_rank.std(axis=0),
            "knn_same_class": float((classes[order[:, :KNN]] == classes[:, None]).mean())}


def plot(curves: dict[str, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    ranks = np.arange(1, len(next(iter(curves.values()))["mean"]) + 1)
    for name, figures in curves.items():
        style = {"color": "black", "linestyle": "--"} if name == "brute force" else {}
        line, = axes.plot(ranks, figures["mean"], label=name, **style)
        axes.fill_between(ranks, figures["mean"] - figures["std"],
                          figures["mean"] + figures["std"], color=line.get_color(), alpha=0.12)
    axes.set_xlabel("neighbour rank n (cosine distance on the model's features)")
    axes.set_ylabel("Pearson correlation with the n-th neighbour")
    axes.set_title("Remote data set: neighbours by model (mean ± std)")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


# ---------------------------------------------------------------- the experiment

def main(argv: Optional[list[str]] = None) -> int:
    args = arguments(argv)
    with tempfile.TemporaryDirectory() as name:
        return experiment(args, Path(name))


def experiment(args, folder: Path) -> int:
    started = time.perf_counter()
    settings = Settings(home=folder / "home", data_roots=(folder,))
    engine, session_factory = open_database(settings)
    server = TiledTestServer(folder / "tiled")
    try:
        generate_demo(folder / "local", n_images=args.local, size=args.local_size,
                      seed=args.seed)
        local = register(session_factory, settings, "local", "directory",
                         str(folder / "local"))
        remote = write_remote(server, folder / "remote-files", args)
        print(f"data: {args.local} local {args.local_size} px uint16 images; "
              f"{args.remote} remote {args.remote_size} px float32 images with module gaps "
              f"on Tiled ({time.perf_counter() - started:.0f} s)")
        with ByteCountingProxy(server.port) as proxy:
            figures = transfer(args, settings, session_factory, server, proxy, local, remote)
    finally:
        server.close()
        engine.dispose()
    figures["wall_seconds"] = round(time.perf_counter() - started, 1)
    return report(args, figures)


def transfer(args, settings, session_factory, server, proxy, local: int, remote: Remote
             ) -> dict:
    """Train, tune and infer through the jobs; the figures of the three models."""
    def remote_dataset(name: str, path: str) -> int:
        return register(session_factory, settings, name, "tiled",
                        server.metadata_uri(path, port=proxy.port), api_key=server.api_key)

    everything = remote_dataset("remote", remote.root)
    tuning_set = remote_dataset("remote-finetune", f"{remote.root}/finetune")
    seconds, tiled_bytes = {}, {}

    def timed(label: str, kind: str, dataset_id: int, params: dict) -> Job:
        proxy.reset()
        start = time.perf_counter()
        job = run_job(session_factory, settings, kind, dataset_id, params)
        seconds[label] = round(time.perf_counter() - start, 1)
        tiled_bytes[label] = proxy.bytes_to_client
        print(f"  {label}: {seconds[label]:.0f} s, {tiled_bytes[label] / 1e6:.1f} MB "
              "from Tiled", flush=True)
        return job

    pretrained = timed("pre-train", "autoencoder_train", local,
                       {**NETWORK, "epochs": args.pretrain_epochs})
    tuning = {**NETWORK, "epochs": args.finetune_epochs}
    models = {"fine-tuned": timed("fine-tune", "autoencoder_train", tuning_set,
                                  {**tuning, "init_model": pretrained.id}),
              "scratch": timed("scratch", "autoencoder_train", tuning_set, tuning),
              "pre-trained": pretrained}
    features = {name: timed(f"infer {name}", "autoencoder_infer", everything,
                            {"model_job_id": model.id})
                for name, model in models.items()}
    return evaluate(args, session_factory, remote, everything, features) | {
        "seconds": seconds, "tiled_bytes_read": tiled_bytes,
        "remote_full_bytes": args.remote * args.remote_size ** 2 * 4}


def evaluate(args, session_factory, remote: Remote, dataset_id: int,
             features: dict[str, Job]) -> dict:
    """The neighbour figures of each model and of brute force over the held-out images."""
    with session_factory() as session:
        item_of = {(item.path, item.frame): item.id for item in session.scalars(
            select(Item).where(Item.dataset_id == dataset_id))}
    held_out = remote.truth[args.finetune:]
    item_ids = [item_of[remote.tiled_path[path]] for path, _ in held_out]
    class_names = sorted({label for _, label in held_out})
    classes = np.array([class_names.index(label) for _, label in held_out])
    images = model_inputs(remote, [path for path, _ in held_out])
    correlation = pearson_matrix(images.reshape(len(images), -1))
    deepest = max(RANKS)
    curves = {"brute force": ranking_figures(neighbour_order(correlation, deepest),
                                             correlation, classes)}
    for name, job in features.items():
        latents = np.load(Path(job.artifact_dir) / job.result["files"]["latents"])
        ids = np.load(Path(job.artifact_dir) / job.result["files"]["item_ids"])
        row = {int(item_id): index for index, item_id in enumerate(ids)}
        vectors = latents[[row[item_id] for item_id in item_ids]]
        curves[name] = ranking_figures(neighbour_order(cosine_similarity(vectors), deepest),
                                       correlation, classes)
    plot(curves, args.plot)
    return {"curves": curves, "held_out": len(held_out)}


def model_inputs(remote: Remote, paths: list[str]) -> np.ndarray:
    """The images as the models saw them (the remote jobs' strided read, transform and
    resize), read from the generated files."""
    size = tuple(NETWORK["image_size"])
    items = [_FileItem(index, path) for index, path in enumerate(paths)]
    loaded = load_images(DirectorySource(str(remote.files)), items, size, Transform(log=True),
                         REMOTE_READ_OVERSAMPLING * max(size))
    if loaded.failed:
        raise SystemExit(f"{len(loaded.failed)} generated images could not be read")
    return loaded.images


@dataclass
class _FileItem:
    id: int
    path: str
    frame: int = 0


def report(args, figures: dict) -> int:
    curves = figures["curves"]
    print(f"\nPearson correlation with the n-th nearest neighbour over the "
          f"{figures['held_out']} held-out remote images (mean ± std)")
    names = ["brute force", *MODELS]
    print("rank  " + "".join(f"{name:>20}" for name in names))
    for rank in RANKS:
        cells = "".join(f"{curves[name]['mean'][rank - 1]:>12.3f} ± "
                        f"{curves[name]['std'][rank - 1]:.3f}" for name in names)
        print(f"{rank:>4}  {cells}")
    print(f"{KNN}-NN same class " + "".join(f"{curves[name]['knn_same_class']:>20.3f}"
                                            for name in names))
    full = figures["remote_full_bytes"]
    print(f"bytes read from Tiled (the remote data set's frames are {full / 1e6:.0f} MB): "
          + ", ".join(f"{step} {count / 1e6:.1f} MB"
                      for step, count in figures["tiled_bytes_read"].items()))
    print(f"plot: {args.plot}; wall time {figures['wall_seconds']:.0f} s")

    mean = {name: {rank: float(curves[name]["mean"][rank - 1]) for rank in RANKS}
            for name in names}
    above_scratch = all(mean["fine-tuned"][rank] > mean["scratch"][rank] for rank in RANKS)
    share = mean["fine-tuned"][GOAL_RANK] / mean["brute force"][GOAL_RANK]
    close_to_brute_force = share >= GOAL_SHARE_OF_BRUTE_FORCE
    print(f"\nfine-tuned above scratch at ranks {', '.join(map(str, RANKS))}: "
          f"{verdict(above_scratch)}")
    print(f"fine-tuned at rank {GOAL_RANK} is {share:.1%} of brute force "
          f"(goal >= {GOAL_SHARE_OF_BRUTE_FORCE:.0%}): {verdict(close_to_brute_force)}")
    if args.json:
        args.json.write_text(json.dumps({
            "pearson_mean": {name: mean[name] for name in MODELS},
            "pearson_std": {name: {rank: float(curves[name]["std"][rank - 1])
                                   for rank in RANKS} for name in names},
            "brute_force": mean["brute force"],
            "knn_same_class": {name: curves[name]["knn_same_class"] for name in names},
            "tiled_bytes_read": figures["tiled_bytes_read"],
            "remote_full_bytes": full, "seconds": figures["seconds"],
            "wall_seconds": figures["wall_seconds"], "held_out_images": figures["held_out"],
        }, indent=2))
    return 0 if above_scratch and close_to_brute_force else 1


if __name__ == "__main__":
    raise SystemExit(main())
