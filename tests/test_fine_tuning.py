"""Fine-tuning: autoencoder_train and classifier_train starting from an earlier model
(``init_model``), refused before queueing when it cannot start the run, a classifier's head
carried over to another data set's classes by name, and the frozen pre-trained part."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from sqlalchemy import select

from data.catalog import register_dataset, scan_dataset
from data.demo import generate_demo
from db import jobs as job_store
from db.labels import create_label
from db.models import Item
from db.session import transaction
from db.store import TagIn, apply_event
from errors import DomainError
from ml.autoencoder import ConvAutoencoder
from ml.autoencoder_spec import AutoencoderSpec
from ml.autoencoder_train import load_model
from ml.classifier import create_classifier, load_classifier
from ml.fine_tuning import head_for_classes, parameter_groups, start_classifier
from ml.init_model import DEFAULT_PRETRAINED_LR_SCALE
from ml.jobs import create_job, execute_job
from ml.kinds import autoencoder as autoencoder_kind
from ml.kinds import classifier as classifier_kind
from tests.api_client import (api, assert_error, dataset, folder, labels,  # noqa: F401
                              server, settings)
from tests.databases import demo_dataset
from tests.feature_jobs import run_job

N_IMAGES = 24
# The model learnt on data set A; data set B names its classes otherwise, in another order.
CLASSES_A = ("empty", "rings", "peaks")
CLASSES_B = {"streaks": "empty", "rings": "rings", "peaks": "peaks"}  # B's name: demo class
AUTOENCODER = {"epochs": 15, "image_size": [16, 16], "depth": 2, "base_channels": 4,
               "latent_dim": 4, "batch_size": 8, "learning_rate": 0.01, "val_share": 0.25}
CLASSIFIER = {"model": "resnet18", "image_size": 16, "epochs": 2, "batch_size": 8,
              "learning_rate": 0.001, "val_share": 0.3}
TINY_STEP = 1e-7  # a learning rate that leaves the starting weights all but unchanged


@dataclass
class Lab:
    session_factory: object
    artifacts: Path
    dataset_a: int
    dataset_b: int
    autoencoder: object  # the succeeded autoencoder_train job on A
    classifier: object  # the succeeded classifier_train job on A


def _label(session_factory, dataset_id: int, truth, names: dict[str, str]) -> None:
    """Label every demo image of ``dataset_id`` with the class ``names`` gives its demo
    class (label classes created in the order of ``names``)."""
    with transaction(session_factory) as session:
        label_ids = {demo: create_label(session, dataset_id, name).id
                     for name, demo in names.items()}
        ids = dict(session.execute(select(Item.path, Item.id)
                                   .where(Item.dataset_id == dataset_id)).all())
        apply_event(session, dataset_id, "tester", "import",
                    [TagIn(ids[path], label_ids[demo]) for path, demo in truth])


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Lab:
    """Data set A (classes empty, rings, peaks) with a trained autoencoder and classifier,
    and data set B in the same database whose classes are streaks, rings and peaks."""
    torch.set_num_threads(1)  # the CPU is shared: two threads that wait on each other lose
    tmp_path = tmp_path_factory.mktemp("fine_tuning")
    demo = demo_dataset(tmp_path, N_IMAGES, size=32, seed=4, classes=CLASSES_A)
    _label(demo.session_factory, demo.dataset_id, demo.truth, {c: c for c in CLASSES_A})
    truth_b = generate_demo(tmp_path / "other", n_images=N_IMAGES, size=32, seed=8,
                            classes=CLASSES_A)
    dataset_b = register_dataset(demo.session_factory, demo.settings.data_roots, "other",
                                 "directory", str(tmp_path / "other")).id
    scan_dataset(demo.session_factory, dataset_b)
    _label(demo.session_factory, dataset_b, truth_b, CLASSES_B)
    artifacts = demo.settings.artifacts_dir
    yield Lab(demo.session_factory, artifacts, demo.dataset_id, dataset_b,
              run_job(demo.session_factory, artifacts, "autoencoder_train", demo.dataset_id,
                      AUTOENCODER),
              run_job(demo.session_factory, artifacts, "classifier_train", demo.dataset_id,
                      CLASSIFIER))
    demo.engine.dispose()


def train(lab: Lab, kind: str, dataset_id: int, params: dict):
    return run_job(lab.session_factory, lab.artifacts, kind, dataset_id, params)


def refusal(lab: Lab, kind: str, dataset_id: int, params: dict) -> DomainError:
    """The DomainError that refuses the job; no job row is left behind."""
    with lab.session_factory() as session:
        jobs_before = len(job_store.list_jobs(session))
    with pytest.raises(DomainError) as refused:
        with transaction(lab.session_factory) as session:
            create_job(session, kind, dataset_id, params, "tester")
    with lab.session_factory() as session:
        assert len(job_store.list_jobs(session)) == jobs_before
    return refused.value


def weights(job) -> dict[str, torch.Tensor]:
    path = Path(job.artifact_dir) / job.result["model"]
    model = load_model(path) if job.kind == "autoencoder_train" else load_classifier(path)[0]
    return model.state_dict()


# ---------------------------------------------------------------- refusals before queueing

def test_an_autoencoder_of_another_architecture_is_refused_naming_what_differs(lab):
    error = refusal(lab, "autoencoder_train", lab.dataset_b,
                    {**AUTOENCODER, "init_model": lab.autoencoder.id, "depth": 1,
                     "latent_dim": 8})
    assert error.field == "params.init_model"
    message = str(error)
    assert f"init_model {lab.autoencoder.id} is an autoencoder of" in message
    assert "depth 2" in message and "latent size 4" in message  # what the model is
    assert "this run asks latent size 8, depth 1" in message  # what the run asks instead
    assert "use the same latent size and depth or train from scratch" in message
    assert "base channels" not in message.split("asks")[1]  # only the fields that differ


def test_a_classifier_of_another_model_or_image_size_is_refused(lab):
    start = {**CLASSIFIER, "init_model": lab.classifier.id}
    error = refusal(lab, "classifier_train", lab.dataset_b, {**start, "image_size": 32})
    assert error.field == "params.init_model"
    assert "a classifier of model resnet18, image size 16×16" in str(error)
    assert "this run asks image size 32×32: use the same image size" in str(error)
    error = refusal(lab, "classifier_train", lab.dataset_b, {**start, "model": "resnet34"})
    assert error.field == "params.init_model" and "asks model resnet34" in str(error)


def test_unknown_unfinished_other_kind_and_weightless_models_are_refused(lab):
    with transaction(lab.session_factory) as session:
        failed = job_store.add_job(session, "autoencoder_train", lab.dataset_a,
                                   autoencoder_kind.check_train_params(AUTOENCODER), "tester")
        job_store.finish(session, failed.id, "failed", error="out of memory")
    gone = train(lab, "autoencoder_train", lab.dataset_a, {**AUTOENCODER, "epochs": 1})
    (Path(gone.artifact_dir) / gone.result["model"]).unlink()
    cases = [
        ("autoencoder_train", 10**6, f"there is no job {10**6}", 404),
        ("autoencoder_train", failed.id, f"job {failed.id} is failed, so it left no model",
         400),
        ("autoencoder_train", lab.classifier.id,
         f"job {lab.classifier.id} is of kind classifier_train", 400),
        ("classifier_train", lab.autoencoder.id,
         f"job {lab.autoencoder.id} is of kind autoencoder_train", 400),
        ("autoencoder_train", gone.id, f"the weights file of job {gone.id} is gone", 400),
    ]
    for kind, init_model, words, status in cases:
        params = {**(AUTOENCODER if kind == "autoencoder_train" else CLASSIFIER),
                  "init_model": init_model}
        error = refusal(lab, kind, lab.dataset_b, params)
        assert (error.field, error.status) == ("params.init_model", status), error
        assert words in str(error), str(error)


@pytest.mark.parametrize("kind, base", [("autoencoder_train", AUTOENCODER),
                                        ("classifier_train", CLASSIFIER)])
def test_the_start_parameters_are_checked_with_the_others(kind, base):
    check = (autoencoder_kind if kind == "autoencoder_train" else classifier_kind
             ).check_train_params
    scratch = check(base)
    assert (scratch["init_model"], scratch["freeze_pretrained"],
            scratch["pretrained_lr_scale"]) == (None, False, None)
    started = check({**base, "init_model": 7})
    assert started["pretrained_lr_scale"] == DEFAULT_PRETRAINED_LR_SCALE == 0.1
    assert check(started) == started and check(scratch) == scratch  # stored params re-check
    assert check({**base, "init_model": 7, "pretrained_lr_scale": 1})["pretrained_lr_scale"] == 1
    scale = "params.pretrained_lr_scale"
    for params, field in [({"freeze_pretrained": True}, "params.freeze_pretrained"),
                          ({"pretrained_lr_scale": 0.5}, scale),
                          ({"init_model": 7, "pretrained_lr_scale": 0}, scale),
                          ({"init_model": 7, "pretrained_lr_scale": 1.5}, scale),
                          ({"init_model": 7, "pretrained_lr_scale": float("nan")}, scale),
                          ({"init_model": "7"}, "params.init_model"),
                          ({"init_model": 0}, "params.init_model")]:
        with pytest.raises(DomainError) as refused:
            check({**base, **params})
        assert refused.value.field == field, params


def test_a_classifier_takes_one_start_weights_file_or_model(tmp_path):
    weights_file = tmp_path / "w.pth"
    with pytest.raises(DomainError) as refused:
        classifier_kind.check_train_params({**CLASSIFIER, "init_model": 3,
                                            "weights_path": str(weights_file)})
    assert refused.value.field == "params.weights_path" and "keep one" in str(refused.value)


# ---------------------------------------------------------------- the runs

def test_a_fine_tuned_autoencoder_starts_from_the_given_weights(lab):
    start = weights(lab.autoencoder)
    nearly_still = {**AUTOENCODER, "epochs": 1, "learning_rate": TINY_STEP}
    tuned = train(lab, "autoencoder_train", lab.dataset_b,
                  {**nearly_still, "init_model": lab.autoencoder.id})
    scratch = train(lab, "autoencoder_train", lab.dataset_b, nearly_still)
    tuned_weights = weights(tuned)
    model = ConvAutoencoder(AutoencoderSpec((16, 16), 4, 4, 2))
    for name, _ in model.named_parameters():
        assert torch.allclose(tuned_weights[name], start[name], atol=1e-5), name
    assert not torch.allclose(weights(scratch)["encoder.latent.weight"],
                              start["encoder.latent.weight"], atol=1e-2)
    # what the model knows about images shows at once, on another data set
    assert tuned.metrics[0]["val_loss"] < 0.5 * scratch.metrics[0]["val_loss"], (
        tuned.metrics, scratch.metrics)
    assert tuned.result["init_model"] == lab.autoencoder.id
    assert tuned.result["fine_tuning"] == {
        "init_model": lab.autoencoder.id, "pretrained_part": "encoder", "frozen": False,
        "pretrained_lr_scale": DEFAULT_PRETRAINED_LR_SCALE, "kept": "all weights"}
    assert scratch.result["init_model"] is None and scratch.result["fine_tuning"] is None


def test_a_frozen_encoder_keeps_its_weights_while_the_decoder_learns(lab):
    start = weights(lab.autoencoder)
    tuned = train(lab, "autoencoder_train", lab.dataset_b,
                  {**AUTOENCODER, "epochs": 2, "init_model": lab.autoencoder.id,
                   "freeze_pretrained": True})
    tuned_weights = weights(tuned)
    for name, tensor in start.items():  # BatchNorm statistics included
        if name.startswith("encoder."):
            assert torch.equal(tuned_weights[name], tensor), name
    assert not torch.allclose(tuned_weights["decoder.output.weight"],
                              start["decoder.output.weight"])
    assert tuned.result["fine_tuning"]["frozen"] is True


def test_a_classifier_from_another_data_set_keeps_its_shared_classes(lab):
    start = weights(lab.classifier)
    tuned = train(lab, "classifier_train", lab.dataset_b,
                  {**CLASSIFIER, "epochs": 1, "learning_rate": TINY_STEP, "seed": 1,
                   "init_model": lab.classifier.id, "freeze_pretrained": True})
    tuned_weights = weights(tuned)
    for name, tensor in start.items():  # the frozen backbone, BatchNorm statistics included
        if not name.startswith("fc."):
            assert torch.equal(tuned_weights[name], tensor), name
    names_b = tuned.result["label_names"]
    assert names_b == list(CLASSES_B)  # streaks, rings, peaks: another order than A's
    for row, name in enumerate(names_b):
        if name in CLASSES_A:  # its row of A, moved to where B has the class
            old_row = CLASSES_A.index(name)
            assert torch.allclose(tuned_weights["fc.weight"][row], start["fc.weight"][old_row],
                                  atol=1e-5), name
    # new: drawn at random (another seed than A's run, whose head began with the same draw)
    streaks = tuned_weights["fc.weight"][names_b.index("streaks")]
    assert all(not torch.allclose(streaks, old, atol=1e-2) for old in start["fc.weight"])
    assert tuned.result["fine_tuning"] == {
        "init_model": lab.classifier.id, "pretrained_part": "backbone", "frozen": True,
        "pretrained_lr_scale": DEFAULT_PRETRAINED_LR_SCALE,
        "kept": "the backbone, and the head rows of kept_classes",
        "kept_classes": ["rings", "peaks"], "new_classes": ["streaks"],
        "dropped_classes": ["empty"]}
    log = (Path(tuned.artifact_dir) / "job.log").read_text()
    assert (f"starting from model {lab.classifier.id}: kept 2 of 3 classes by name: rings, "
            "peaks; new: streaks; not in this data set: empty; backbone frozen") in log


# ---------------------------------------------------------------- the pieces

def test_the_head_for_other_classes_copies_shared_rows_by_name():
    generator = torch.Generator().manual_seed(0)
    old = {"weight": torch.randn(3, 5, generator=generator),
           "bias": torch.randn(3, generator=generator)}
    fresh = {"weight": torch.randn(4, 5, generator=generator),
             "bias": torch.randn(4, generator=generator)}
    head = head_for_classes(old, fresh, ["empty", "rings", "peaks"],
                            ["peaks", "streaks", "rings", "blobs"])
    for key in ("weight", "bias"):
        assert torch.equal(head[key][0], old[key][2])  # peaks
        assert torch.equal(head[key][2], old[key][1])  # rings
        assert torch.equal(head[key][1], fresh[key][1])  # streaks: new
        assert torch.equal(head[key][3], fresh[key][3])  # blobs: new
    assert head["weight"].shape == (4, 5)
    with pytest.raises(ValueError, match="rows"):
        head_for_classes(old, fresh, ["a", "b"], ["a", "b", "c", "d"])


def test_a_classifier_starts_with_the_backbone_and_the_matched_head():
    torch.manual_seed(1)
    saved = create_classifier("resnet18", 3)
    model = create_classifier("resnet18", 2)
    fresh_bias = model.fc.bias.detach().clone()
    match = start_classifier(model, saved, ["empty", "rings", "peaks"], ["rings", "streaks"])
    state, saved_state = model.state_dict(), saved.state_dict()
    assert all(torch.equal(state[key], value) for key, value in saved_state.items()
               if not key.startswith("fc."))
    assert torch.equal(model.fc.weight[0], saved.fc.weight[1])
    assert torch.equal(model.fc.bias[1], fresh_bias[1])
    assert match.summary() == ("kept 1 of 2 classes by name: rings; new: streaks; not in "
                               "this data set: empty, peaks")
    with pytest.raises(ValueError, match="another backbone"):
        start_classifier(create_classifier("resnet34", 2), saved, ["a", "b", "c"], ["a", "b"])


def test_the_pretrained_part_learns_at_its_share_of_the_rate():
    model = ConvAutoencoder(AutoencoderSpec((16, 16), 4, 4, 2))
    groups = parameter_groups(model, model.decoder, 1e-3, 0.1)
    assert [group["lr"] for group in groups] == pytest.approx([1e-4, 1e-3])
    assert [len(group["params"]) for group in groups] == [
        len(list(model.encoder.parameters())), len(list(model.decoder.parameters()))]
    model.encoder.requires_grad_(False)
    [only] = parameter_groups(model, model.decoder, 1e-3, 0.1)
    assert only["lr"] == 1e-3
    optimizer = torch.optim.Adam(parameter_groups(model, model.decoder, 1e-3, 0.1), lr=1e-3)
    assert len(optimizer.param_groups) == 1


# ---------------------------------------------------------------- through the REST route

def test_the_api_refuses_a_mismatched_start_before_queueing(api, server, dataset, labels):
    services = server.extensions["beamlabel"]
    readable = [item["id"] for item in api.get(
        f"/datasets/{dataset['id']}/items?limit=100").json["items"]
        if item["status"] != "unreadable"]
    assert len(readable) >= 8
    tags = [{"item_id": item_id, "label_id": labels["ring" if i % 2 else "peak"]}
            for i, item_id in enumerate(readable[:8])]
    assert api.post(f"/datasets/{dataset['id']}/events",
                    {"tagger": "tester", "method": "manual", "tags": tags}).status_code == 201
    tiny = {"autoencoder_train": {"image_size": [16, 16], "depth": 1, "base_channels": 4,
                                  "latent_dim": 4, "epochs": 1, "batch_size": 4},
            "classifier_train": {"model": "resnet18", "image_size": 16, "epochs": 1,
                                 "batch_size": 4, "val_share": 0.25}}
    other = {"autoencoder_train": ({"depth": 2}, "this run asks depth 2"),
             "classifier_train": ({"image_size": 32}, "this run asks image size 32×32")}
    for kind, params in tiny.items():
        answer = api.post("/jobs", {"kind": kind, "dataset_id": dataset["id"],
                                    "params": params})
        assert answer.status_code == 201, answer.json
        assert execute_job(services.session_factory, services.settings.artifacts_dir,
                           answer.json["id"]) == "succeeded"
        jobs_before = len(api.get("/jobs").json["jobs"])
        changed, words = other[kind]
        refused = api.post("/jobs", {"kind": kind, "dataset_id": dataset["id"],
                                     "params": {**params, **changed,
                                                "init_model": answer.json["id"]}})
        assert_error(refused, 400, "params.init_model", words, "train from scratch")
        assert_error(api.post("/jobs", {"kind": kind, "dataset_id": dataset["id"],
                                        "params": {**params, "init_model": 10**6}}),
                     404, "params.init_model", "there is no job")
        assert len(api.get("/jobs").json["jobs"]) == jobs_before  # nothing was queued
        started = api.post("/jobs", {"kind": kind, "dataset_id": dataset["id"],
                                     "params": {**params, "init_model": answer.json["id"]}})
        assert started.status_code == 201 and started.json["status"] == "queued", started.json
        assert started.json["params"]["pretrained_lr_scale"] == DEFAULT_PRETRAINED_LR_SCALE
