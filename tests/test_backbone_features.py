"""backbone_features: a frozen timm backbone's features from a local weights file, as a job
on demo images (one file broken), and the weights files and names that are refused."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from db.models import Item
from db.session import transaction
from errors import DomainError
from ml.features import feature_sources, load_vectors
from ml.jobs import create_job, execute_job
from tests.databases import demo_dataset

MODEL = "resnet18"
FEATURE_WIDTH = 512  # resnet18's pooled features
SMALL = {"model": MODEL, "image_size": 32, "batch_size": 5}
BROKEN = "run_000/img_000004.tif"


def saved_weights(folder: Path, model_name: str = MODEL, in_chans: int = 3,
                  seed: int = 0) -> str:
    """A state dict of a seeded random ``model_name`` saved where a user would keep it."""
    import timm
    import torch

    torch.manual_seed(seed)
    path = folder / f"{model_name}-{in_chans}-{seed}.pth"
    torch.save(timm.create_model(model_name, in_chans=in_chans, num_classes=7).state_dict(),
               path)
    return str(path)


@pytest.fixture
def demo(tmp_path):
    import torch

    torch.set_num_threads(1)  # the CPU is shared
    demo = demo_dataset(tmp_path, 12, size=32, seed=3)
    (tmp_path / "images" / BROKEN).write_bytes(b"not a tiff")  # after the scan
    yield demo
    demo.engine.dispose()


def run_job(demo, params: dict):
    with transaction(demo.session_factory) as session:
        job_id = create_job(session, "backbone_features", demo.dataset_id, params, "tester",
                            demo.settings.file_roots).id
    status = execute_job(demo.session_factory, demo.settings.artifacts_dir, job_id)
    with demo.session_factory() as session:
        from db.models import Job
        job = session.get(Job, job_id)
        assert status == "succeeded", job.error
        return job


def test_every_readable_item_gets_the_backbones_features(demo, tmp_path):
    job = run_job(demo, {**SMALL, "weights_path": saved_weights(tmp_path)})
    item_ids, vectors = load_vectors(job)
    with demo.session_factory() as session:
        readable = sorted(item.id for item in session.query(Item)
                          if item.dataset_id == demo.dataset_id and item.path != BROKEN)
    assert sorted(item_ids.tolist()) == readable and len(readable) == 11
    assert vectors.shape == (11, FEATURE_WIDTH) and np.isfinite(vectors).all()
    assert job.result["unreadable"] == 1 and job.result["feature_dim"] == FEATURE_WIDTH
    assert job.result["image_size"] == [32, 32] and job.result["weights"].endswith(".pth")
    with demo.session_factory() as session:  # the label page lists it as a feature source
        assert [s.job_id for s in feature_sources(session, demo.dataset_id)] == [job.id]


def test_the_weights_file_decides_the_features(demo, tmp_path):
    first = load_vectors(run_job(demo, {**SMALL, "weights_path": saved_weights(tmp_path)}))[1]
    again = load_vectors(run_job(demo, {**SMALL, "weights_path": saved_weights(tmp_path)}))[1]
    other = load_vectors(run_job(demo, {**SMALL,
                                        "weights_path": saved_weights(tmp_path, seed=1)}))[1]
    assert np.allclose(first, again, atol=1e-5)
    assert not np.allclose(first, other, atol=1e-3)


def test_grey_weights_spread_over_three_channels_convolve_a_grey_image_the_same(tmp_path):
    import timm
    import torch

    from ml.backbone import create_backbone

    torch.manual_seed(0)
    grey = timm.create_model(MODEL, in_chans=1, num_classes=3).eval()
    path = tmp_path / "grey.pth"
    torch.save({"state_dict": grey.state_dict()}, path)  # a checkpoint wraps its weights
    colour = create_backbone(MODEL, str(path))
    image = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        assert torch.allclose(colour.conv1(image.expand(-1, 3, -1, -1)), grey.conv1(image),
                              atol=1e-5)


def refusal(demo, params: dict) -> DomainError:
    with transaction(demo.session_factory) as session, pytest.raises(DomainError) as refused:
        create_job(session, "backbone_features", demo.dataset_id, params, "tester",
                   demo.settings.file_roots)
    return refused.value


def test_a_missing_weights_file_is_refused_saying_what_to_give(demo, tmp_path):
    error = refusal(demo, {"weights_path": str(tmp_path / "nowhere.pth")})
    assert error.field == "params.weights_path" and error.status == 400
    assert "no file" in str(error) and "never downloaded" in str(error)


def test_weights_of_another_architecture_are_refused_before_queueing(demo, tmp_path):
    error = refusal(demo, {"model": "resnet10t",
                           "weights_path": saved_weights(tmp_path, "resnet18")})
    assert error.field == "params.weights_path"
    assert "does not fit resnet10t" in str(error) and "same timm model" in str(error)


def test_a_file_that_holds_no_weights_is_refused(demo, tmp_path):
    junk = tmp_path / "notes.pth"
    junk.write_text("these are not weights")
    error = refusal(demo, {"weights_path": str(junk)})
    assert error.field == "params.weights_path" and "not a PyTorch weights file" in str(error)


@pytest.mark.parametrize("params, field", [
    ({"model": "resnet_18"}, "params.model"),
    ({"model": 7}, "params.model"),
    ({"image_size": 8}, "params.image_size"),
    ({"pmin": 50.0, "pmax": 10.0}, "params.pmin"),
])
def test_unknown_models_and_infeasible_sizes_are_refused_by_name(demo, params, field):
    error = refusal(demo, params)
    assert error.field == field and error.status == 400
