"""The demo generator: seeded, labelled, class-agnostic names, wide dynamic range."""
from __future__ import annotations

import csv
import hashlib

import numpy as np
import pytest
import tifffile

from data.demo import DEMO_CLASSES, demo_path, generate_demo, main, module_gaps


def digests(folder):
    return {path.relative_to(folder).as_posix(): hashlib.sha1(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def read_truth(folder):
    with open(folder / "truth.csv", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    truth = generate_demo(folder, n_images=28, size=128, seed=5)
    return folder, truth


def test_truth_matches_the_files(demo):
    folder, truth = demo
    rows = read_truth(folder)
    assert [(row["path"], row["label"]) for row in rows] == truth
    on_disk = {path.relative_to(folder).as_posix() for path in folder.rglob("*.tif")}
    assert on_disk == {path for path, _ in truth}
    assert all(path.startswith("run_000/img_") for path, _ in truth)


def test_every_class_is_present_and_names_do_not_tell(demo):
    _, truth = demo
    labels = [label for _, label in truth]
    assert sorted(set(labels)) == sorted(DEMO_CLASSES)
    assert all(labels.count(label) == 4 for label in DEMO_CLASSES)
    assert labels != sorted(labels)  # shuffled, not in class blocks
    names = " ".join(path for path, _ in truth)
    assert not any(part in names for label in DEMO_CLASSES for part in label.split("+"))


def test_images_are_uint16_with_a_wide_range(demo):
    folder, truth = demo
    images = [tifffile.imread(folder / path) for path, _ in truth]
    assert all(image.dtype == np.uint16 and image.shape == (128, 128) for image in images)
    assert max(int(image.max()) for image in images) > 10_000
    assert all(image.min() == 0 for image in images)  # the beam stop
    assert np.mean([(image == 0).mean() for image in images]) < 0.2


def test_same_seed_same_files_other_seed_other_files(tmp_path, demo):
    folder, _ = demo
    generate_demo(tmp_path / "again", n_images=28, size=128, seed=5)
    generate_demo(tmp_path / "other", n_images=28, size=128, seed=6)
    assert digests(tmp_path / "again") == digests(folder)
    assert digests(tmp_path / "other").keys() == digests(folder).keys()
    differing = [path for path, digest in digests(tmp_path / "other").items()
                 if digest != digests(folder)[path]]
    assert len(differing) == 29  # every image and truth.csv


def test_processes_do_not_change_the_output(tmp_path):
    # 300 images make 2 chunks: the pool path, compared with the single-process one.
    generate_demo(tmp_path / "one", n_images=300, size=32, seed=2, processes=1)
    generate_demo(tmp_path / "two", n_images=300, size=32, seed=2, processes=2)
    assert digests(tmp_path / "one") == digests(tmp_path / "two")


def test_classes_features_differ_from_the_background(tmp_path):
    """Each class adds counts to the same background (same seed, same image index)."""
    sums = {}
    for label in DEMO_CLASSES:
        truth = generate_demo(tmp_path / label.replace("+", "_"), n_images=1, size=128,
                              seed=9, classes=[label])
        sums[label] = tifffile.imread(tmp_path / label.replace("+", "_") / truth[0][0]) \
            .astype(np.int64).sum()
    for label in DEMO_CLASSES[1:]:
        assert sums[label] > sums["empty"] * 1.01, label


def test_gaps_and_float(tmp_path):
    truth = generate_demo(tmp_path, n_images=7, size=96, seed=1, gaps=True, dtype="float32")
    gaps = module_gaps(96)
    assert 0.02 < gaps.mean() < 0.15
    for path, _ in truth:
        image = tifffile.imread(tmp_path / path)
        assert image.dtype == np.float32
        assert not image[gaps].any() and image[~gaps].max() > 0


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="unknown demo class 'blobs'.*rings"):
        generate_demo(tmp_path, n_images=2, classes=["blobs"])
    with pytest.raises(ValueError, match="dtype"):
        generate_demo(tmp_path, n_images=2, dtype="uint8")


def test_folders_hold_a_thousand_files():
    assert demo_path(0) == "run_000/img_000000.tif"
    assert demo_path(999) == "run_000/img_000999.tif"
    assert demo_path(1000) == "run_001/img_001000.tif"


def test_command_line(tmp_path, capsys):
    assert main([str(tmp_path), "--n", "7", "--size", "64", "--seed", "3", "--gaps"]) == 0
    assert "7 images of 64x64" in capsys.readouterr().out
    assert len(read_truth(tmp_path)) == 7
