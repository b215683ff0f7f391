"""A weights file a request names (classifier_train, backbone_features) is read only from the
data roots and the data home, links and ``..`` resolved first, and up to a size."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from errors import DomainError
from ml.classifier import MAX_WEIGHTS_BYTES, check_weights_path
from settings import Settings
from tests.api_client import api, assert_error, dataset, folder, server, settings  # noqa: F401


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Path, ...]:
    """A data root and a data home beside a folder outside both."""
    roots = Settings(home=tmp_path / "home", data_roots=(tmp_path / "data",)).file_roots
    for path in (*roots, tmp_path / "outside"):
        path.mkdir()
    (tmp_path / "outside" / "weights.pth").write_bytes(b"weights")
    return roots


def refused(value: str, roots) -> str:
    with pytest.raises(DomainError) as refusal:
        check_weights_path(value, roots)
    assert refusal.value.field == "params.weights_path" and refusal.value.status == 400
    return str(refusal.value)


def test_files_in_the_data_roots_and_the_data_home_are_accepted(roots):
    for root in roots:
        (root / "weights.pth").write_bytes(b"weights")
        assert check_weights_path(str(root / "weights.pth"), roots) == \
            str(root / "weights.pth")
    assert check_weights_path("", roots) is None


def test_a_file_outside_says_where_weights_files_must_lie(roots, tmp_path):
    message = refused(str(tmp_path / "outside" / "weights.pth"), roots)
    assert "outside the folders weights files must lie in" in message
    assert all(str(root) in message for root in roots)
    assert "no data roots" in refused("/etc/passwd", ())


def test_dotdot_cannot_climb_out_of_a_root(roots):
    climbing = f"{roots[0]}/../outside/weights.pth"
    assert "outside the folders" in refused(climbing, roots)


def test_a_link_inside_a_root_to_a_file_outside_is_refused(roots, tmp_path):
    link = roots[0] / "weights.pth"
    link.symlink_to(tmp_path / "outside" / "weights.pth")
    folder_link = roots[0] / "elsewhere"
    folder_link.symlink_to(tmp_path / "outside", target_is_directory=True)
    assert "outside the folders" in refused(str(link), roots)
    assert "outside the folders" in refused(str(folder_link / "weights.pth"), roots)


def test_folders_missing_files_and_huge_files_are_refused(roots):
    assert "no file at" in refused(str(roots[0]), roots)
    assert "no file at" in refused(str(roots[0] / "nowhere.pth"), roots)
    huge = roots[0] / "huge.pth"
    with open(huge, "wb") as handle:  # sparse: takes no disk space
        handle.truncate(MAX_WEIGHTS_BYTES + 1)
    assert "at most 2 GiB" in refused(str(huge), roots)
    assert "must be the path" in refused(7, roots)


@pytest.mark.parametrize("kind", ["classifier_train", "backbone_features"])
def test_the_api_refuses_weights_outside_the_roots_naming_the_field(
        api, dataset, tmp_path, kind):
    outside = tmp_path.parent / f"{tmp_path.name}-weights.pth"
    outside.write_bytes(b"weights")
    try:
        answer = api.post("/jobs", {"kind": kind, "dataset_id": dataset["id"],
                                    "params": {"weights_path": str(outside)}})
        assert_error(answer, 400, "params.weights_path", "outside the folders weights files",
                     "data home")
        escape = api.post("/jobs", {"kind": kind, "dataset_id": dataset["id"], "params": {
            "weights_path": f"{tmp_path}/../{outside.name}"}})
        assert_error(escape, 400, "params.weights_path", "outside the folders")
    finally:
        os.remove(outside)
