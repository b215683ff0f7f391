"""The model library (ml.model_library and /api/v1/models) on SQLite and PostgreSQL, with
models made by real tiny trainings run in-process: listing and filters, one model's facts,
renaming and describing with their refusals, deleting with its files, and the 404s and 409s."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from db import jobs as job_store
from db.models import ModelCard
from db.session import transaction
from errors import DomainError
from ml import model_library
from ml.jobs import create_job, execute_job
from ml.kinds import JOB_KINDS
from tests.api_client import (api, assert_error, dataset, folder, item_ids,  # noqa: F401
                              labels, server, settings)
from tests.databases import make_dataset

TINY_AUTOENCODER = {"image_size": [16, 16], "depth": 2, "base_channels": 4, "latent_dim": 4,
                    "epochs": 2, "batch_size": 4, "val_share": 0.25}
TINY_CLASSIFIER = {"model": "resnet18", "image_size": 16, "epochs": 1, "batch_size": 4,
                   "val_share": 0.3}


@dataclass
class Library:
    client: object  # tests.api_client.Api
    session_factory: object
    dataset_id: int
    event_id: int  # the labels the classifier learnt from
    autoencoder: int  # model ids
    classifier: int


def queue(session_factory, kind: str, dataset_id: int, params: dict) -> int:
    with transaction(session_factory) as session:
        return create_job(session, kind, dataset_id, params, "tester").id


def train(session_factory, artifacts: Path, kind: str, dataset_id: int, params: dict) -> int:
    job_id = queue(session_factory, kind, dataset_id, params)
    assert execute_job(session_factory, artifacts, job_id) == "succeeded"
    return job_id


@pytest.fixture
def library(api, server, settings, dataset, labels) -> Library:
    """An autoencoder, then a classifier trained on 3 'ring' and 3 'peak' images."""
    import torch

    torch.set_num_threads(1)  # the CPU is shared
    ids = item_ids(api, dataset["id"])
    tags = [{"item_id": ids[f"img_{i:02d}.png"], "label_id": labels["ring" if i < 3 else "peak"]}
            for i in range(6)]
    event = api.post(f"/datasets/{dataset['id']}/events",
                     json={"tagger": "tester", "method": "manual", "tags": tags})
    assert event.status_code == 201, event.json
    factory = server.extensions["beamlabel"].session_factory
    autoencoder = train(factory, settings.artifacts_dir, "autoencoder_train", dataset["id"],
                        TINY_AUTOENCODER)
    classifier = train(factory, settings.artifacts_dir, "classifier_train", dataset["id"],
                       TINY_CLASSIFIER)
    return Library(api, factory, dataset["id"], event.json["id"], autoencoder, classifier)


def folder_bytes(job_id: int, session_factory) -> int:
    with session_factory() as session:
        artifacts = Path(job_store.get_job(session, job_id).artifact_dir)
    return sum(path.stat().st_size for path in artifacts.rglob("*") if path.is_file())


def test_every_kind_that_makes_models_has_an_architecture():
    assert model_library.model_kinds() == ["autoencoder_train", "classifier_train"]
    for name in model_library.model_kinds():
        assert name in model_library.ARCHITECTURES and JOB_KINDS[name].produces_model


def test_the_models_are_listed_with_their_facts(library):
    client = library.client
    stats = queue(library.session_factory, "dataset_stats", library.dataset_id, {})
    listed = client.get("/models")
    assert listed.status_code == 200, listed.json
    models = listed.json["models"]
    assert [model["id"] for model in models] == [library.classifier, library.autoencoder]
    assert stats not in [model["id"] for model in models]  # not a training job

    classifier, autoencoder = models
    assert classifier["name"] == f"classifier #{library.classifier}"
    assert autoencoder["name"] == f"autoencoder #{library.autoencoder}"
    assert classifier["architecture"] == {"model": "resnet18", "image_size": [16, 16],
                                          "pretrained": False, "freeze_backbone": False}
    assert autoencoder["architecture"] == {"image_size": [16, 16], "depth": 2,
                                           "base_channels": 4, "latent_dim": 4}
    assert classifier["dataset_id"] == library.dataset_id and classifier["dataset_name"] == "beam"
    assert classifier["learned_from_event_id"] == library.event_id
    assert autoencoder["learned_from_event_id"] is None  # it learnt from the images alone
    assert classifier["class_names"] == ["ring", "peak"] and autoencoder["class_names"] is None
    assert {"val_loss", "val_accuracy", "epoch"} <= set(classifier["metrics"])
    assert classifier["metrics"]["epochs"] == 1
    assert autoencoder["metrics"]["epochs"] == 2 and "seconds" not in autoencoder["metrics"]
    assert autoencoder["parameters"]["latent_dim"] == 4 and autoencoder["owner"] == "tester"
    for model in models:
        assert model["size_bytes"] == folder_bytes(model["id"], library.session_factory) > 0
        assert model["created_at"] <= model["finished_at"]

    detail = client.get(f"/models/{library.autoencoder}")
    assert detail.status_code == 200, detail.json
    assert detail.json["built_on"] == [] and detail.json["metrics"] == autoencoder["metrics"]
    with library.session_factory() as session:  # the functions the routes call
        facts = model_library.model_facts(session, library.classifier)
        assert facts.class_names == ["ring", "peak"] and facts.built_on == []
        assert [m.id for m in model_library.list_models(session, "autoencoder_train")] == [
            library.autoencoder]


def test_the_list_filters_by_kind_and_data_set(library):
    client = library.client
    other, _, _ = make_dataset(library.session_factory, 2, name="other")
    only = client.get("/models?kind=autoencoder_train").json["models"]
    assert [model["id"] for model in only] == [library.autoencoder]
    assert len(client.get(f"/models?dataset_id={library.dataset_id}").json["models"]) == 2
    assert client.get(f"/models?dataset_id={other}").json["models"] == []
    assert_error(client.get("/models?dataset_id=999"), 404, "dataset_id", "does not exist")
    assert_error(client.get("/models?kind=dataset_stats"), 422, "kind")
    with library.session_factory() as session:
        with pytest.raises(DomainError) as refused:
            model_library.list_models(session, "autoencoder_infer")
    assert refused.value.field == "kind" and "makes no models" in str(refused.value)


def test_unknown_ids_and_jobs_that_are_no_models_are_404(library):
    client = library.client
    stats = queue(library.session_factory, "dataset_stats", library.dataset_id, {})
    training = queue(library.session_factory, "autoencoder_train", library.dataset_id,
                     TINY_AUTOENCODER)
    with transaction(library.session_factory) as session:
        job_store.mark_running(session, training, None)
    for method in ("GET", "PATCH", "DELETE"):
        body = {"name": "x"} if method == "PATCH" else None
        assert_error(client.call(method, "/models/999999", json=body), 404, "model_id",
                     "model 999999 does not exist")
        assert_error(client.call(method, f"/models/{stats}", json=body), 404, "model_id",
                     "dataset_stats job, not a model")
        assert_error(client.call(method, f"/models/{training}", json=body), 404, "model_id",
                     "is running, not a model", "when it succeeds")
    assert client.get(f"/jobs/{training}").json["status"] == "running"  # left alone


def test_rename_and_describe(library):
    client, model = library.client, library.classifier
    answer = client.call("PATCH", f"/models/{model}", json={"name": "  Rings vs peaks  "})
    assert answer.status_code == 200, answer.json
    assert answer.json["name"] == "Rings vs peaks" and answer.json["description"] == ""
    text = "Beamtime 42, first shift.\nLabels by Anna."
    answer = client.call("PATCH", f"/models/{model}", json={"description": text})
    assert answer.json["name"] == "Rings vs peaks" and answer.json["description"] == text
    listed = {m["id"]: m for m in client.get("/models").json["models"]}
    assert listed[model]["name"] == "Rings vs peaks"
    assert listed[library.autoencoder]["name"] == f"autoencoder #{library.autoencoder}"
    answer = client.call("PATCH", f"/models/{model}", json={"name": "x" * 100, "description": ""})
    assert answer.status_code == 200 and answer.json["description"] == ""


@pytest.mark.parametrize("body, status, field, words", [
    ({}, 422, "body", "at least one of name and description"),
    ({"name": ""}, 422, "name", ""),
    ({"name": "   "}, 400, "name", "name is empty"),
    ({"name": "x" * 101}, 422, "name", "100"),
    ({"name": "two\nlines"}, 400, "name", "one line"),
    ({"name": "nul\u0000"}, 422, "name", "NUL"),
    ({"name": 7}, 422, "name", ""),
    ({"description": "x" * 2001}, 422, "description", "2000"),
    ({"description": "ok", "colour": "red"}, 422, "colour", "not a field"),
])
def test_renaming_refusals_name_the_field(library, body, status, field, words):
    answer = library.client.call("PATCH", f"/models/{library.autoencoder}", json=body)
    assert_error(answer, status, field, words)
    assert library.client.get(f"/models/{library.autoencoder}").json["name"] == \
        f"autoencoder #{library.autoencoder}"  # nothing changed


@pytest.mark.parametrize("name, description, field, words", [
    ("a\u0000b", None, "name", "NUL"),
    ("x" * 101, None, "name", "keep it to 100"),
    (None, "x" * 2001, "description", "keep it to 2,000"),
    (None, "bad\u0000", "description", "NUL"),
    (None, None, "name", "give a new name or description"),
    (5, None, "name", "must be text"),
])
def test_the_library_functions_refuse_the_same(library, name, description, field, words):
    with pytest.raises(DomainError) as refused:
        with transaction(library.session_factory) as session:
            model_library.describe_model(session, library.autoencoder, name, description)
    assert refused.value.field == field and words in str(refused.value)
    with library.session_factory() as session:
        assert session.get(ModelCard, library.autoencoder) is None


def test_delete_waits_for_the_jobs_built_on_it_and_removes_the_files(library):
    client, model = library.client, library.autoencoder
    client.call("PATCH", f"/models/{model}", json={"description": "to be deleted"})
    # an inference of the model on another data set, waiting, then running
    other, _, _ = make_dataset(library.session_factory, 2, name="other")
    inference = queue(library.session_factory, "autoencoder_infer", other,
                      {"model_job_id": model})
    assert [job["id"] for job in client.get(f"/models/{model}").json["built_on"]] == [inference]
    assert_error(client.call("DELETE", f"/models/{model}"), 409, "model_id",
                 f"#{inference} (autoencoder_infer, queued)", "cancel them")
    with transaction(library.session_factory) as session:
        job_store.mark_running(session, inference, None)
    assert_error(client.call("DELETE", f"/models/{model}"), 409, "model_id", "running")
    with library.session_factory() as session:
        artifacts = Path(job_store.get_job(session, model).artifact_dir)
    assert (artifacts / "model.pt").is_file()

    with transaction(library.session_factory) as session:
        job_store.finish(session, inference, "cancelled")
    answer = client.call("DELETE", f"/models/{model}")
    assert answer.status_code == 200, answer.json
    assert answer.json == {"model_id": model, "deleted": True}
    assert not artifacts.exists()
    assert_error(client.get(f"/models/{model}"), 404, "model_id", "does not exist")
    assert client.get(f"/jobs/{model}").status_code == 404
    with library.session_factory() as session:
        assert session.get(ModelCard, model) is None
    assert [m["id"] for m in client.get("/models").json["models"]] == [library.classifier]
    assert client.get(f"/jobs/{inference}").json["status"] == "cancelled"  # it keeps its row


def test_delete_through_the_function(library):
    with library.session_factory() as session:
        artifacts = Path(job_store.get_job(session, library.classifier).artifact_dir)
    with transaction(library.session_factory) as session:
        model_library.delete_model(session, library.classifier)
    assert not artifacts.exists()
    with library.session_factory() as session:
        with pytest.raises(DomainError) as refused:
            model_library.model_facts(session, library.classifier)
    assert refused.value.status == 404
