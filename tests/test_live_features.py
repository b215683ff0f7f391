"""Live suggestions: items that arrive after a feature job ran get their rows from that
job's own model (a small live_features job) and join similarity, suggestions and
probability labeling at once, with the vectors a full re-inference computes for them."""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from app import create_server
from data.catalog import insert_items, register_dataset, scan_dataset
from data.demo import generate_demo
from data.sources.base import Listing
from db.labels import create_label
from db.models import Dataset, Item, Job
from db.session import open_database, transaction
from db.store import TagIn, apply_event
from errors import DomainError
from ml import rankings
from ml.feature_chunks import LIVE_FOLDER, append_chunk, chunk_folders
from ml.features import feature_version, load_probabilities, load_vectors, rows_of
from ml.jobs import create_job, execute_job
from ml.kinds import JOB_KINDS
from ml.kinds.context import JobContext
from ml.kinds.live_features import MAX_ITEMS
from ml.live_features import attach_feature_jobs, attached_feature_jobs, extend_attached_features
from ml.scattering_features import normal_scores_against, to_normal_scores
from ml.similarity import IndexCache
from settings import Settings
from tests.api_client import Api, assert_error
from tests.databases import make_dataset
from tests.feature_jobs import make_feature_job, run_job

CLASSES = ("empty", "rings", "peaks")
N_FIRST, N_LATE = 36, 4
AUTOENCODER = {"epochs": 1, "image_size": [16, 16], "depth": 2, "base_channels": 2,
               "latent_dim": 4, "batch_size": 8}
CLASSIFIER = {"model": "resnet18", "image_size": 16, "epochs": 1, "batch_size": 16}
CONTRASTIVE = {"epochs": 1, "image_size": 16, "depth": 2, "base_channels": 2, "latent_dim": 4,
               "projection_dim": 4, "batch_size": 8}
BACKBONE = {"model": "resnet18", "image_size": 16, "batch_size": 16}


@dataclass
class Live:
    settings: Settings
    factory: object
    dataset_id: int
    jobs: dict  # name -> job id: the feature jobs that took the new items, and full re-runs
    late: list  # ids of the items that arrived after the jobs ran, in arrival order
    labels: dict
    cache: IndexCache  # primed before the items arrived
    extension_jobs: list  # the live_features jobs that extend_attached_features queued


def _arrive(live_folder: Path, images: Path, factory, dataset_id: int, paths) -> list[int]:
    """Move held-back files into the data set's folder and register them as the catalog
    does; their item ids."""
    for path in paths:
        (images / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(live_folder / path, images / path)
    with transaction(factory) as session:
        insert_items(session, dataset_id, [Listing(path) for path in paths])
    scan_dataset(factory, dataset_id)
    with factory() as session:
        return list(session.scalars(select(Item.id).where(Item.dataset_id == dataset_id,
                                                          Item.path.in_(paths))
                                    .order_by(Item.id)))


def _run(factory, settings, kind: str, dataset_id: int, params: dict) -> int:
    return run_job(factory, settings.artifacts_dir, kind, dataset_id, params).id


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    import torch

    torch.set_num_threads(1)  # the CPU is shared
    tmp = tmp_path_factory.mktemp("live")
    images, held_back = tmp / "images", tmp / "later"
    truth = generate_demo(images, n_images=N_FIRST + N_LATE, size=32, seed=5, classes=CLASSES)
    late_paths = [path for path, _label in truth[N_FIRST:]]
    for path in late_paths:
        (held_back / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(images / path, held_back / path)
    settings = Settings(home=tmp / "home", data_roots=(tmp,), cache_url="null://")
    engine, factory = open_database(settings)
    dataset_id = register_dataset(factory, settings.data_roots, "demo", "directory",
                                  str(images)).id
    scan_dataset(factory, dataset_id)
    with transaction(factory) as session:
        labels = {name: create_label(session, dataset_id, name).id for name in CLASSES}
        ids = dict(session.execute(select(Item.path, Item.id)
                                   .where(Item.dataset_id == dataset_id)).all())
        apply_event(session, dataset_id, "tester", "import",
                    [TagIn(ids[path], labels[label]) for path, label in truth[:N_FIRST]])

    def run(kind: str, params: dict) -> int:
        return _run(factory, settings, kind, dataset_id, params)

    jobs = {"autoencoder_infer": run("autoencoder_infer", {
                "model_job_id": run("autoencoder_train", AUTOENCODER)}),
            "classifier_infer": run("classifier_infer", {
                "model_job_id": run("classifier_train", CLASSIFIER)}),
            "scattering_features": run("scattering_features", {}),
            "contrastive_features": run("contrastive_features", CONTRASTIVE),
            "backbone_features": run("backbone_features", BACKBONE)}
    cache = IndexCache()
    with factory() as session:  # indexes and suggestions cached before anything arrives
        rankings.similar(session, cache, dataset_id, jobs["autoencoder_infer"],
                         [min(ids.values())])
        rankings.suggestion_model(session, cache, dataset_id, jobs["classifier_infer"])

    # One item arrives alone: scattering features score it as a full run over the data
    # set with it would.
    late = _arrive(held_back, images, factory, dataset_id, late_paths[:1])
    run("live_features", {"feature_job_id": jobs["scattering_features"], "item_ids": late})
    jobs["scattering_rerun"] = run("scattering_features", {})
    # The rest arrive; every attached job takes them all.
    late += _arrive(held_back, images, factory, dataset_id, late_paths[1:])
    with transaction(factory) as session:
        attach_feature_jobs(session, dataset_id, [jobs["autoencoder_infer"],
                                                  jobs["classifier_infer"],
                                                  jobs["scattering_features"]])
    extension_jobs = extend_attached_features(
        factory, dataset_id, late,
        submit=lambda job_id: execute_job(factory, settings.artifacts_dir, job_id))
    for kind in ("autoencoder_infer", "classifier_infer"):  # the full re-inference
        with factory() as session:
            model_job_id = session.get(Job, jobs[kind]).params["model_job_id"]
        jobs[f"{kind}_rerun"] = run(kind, {"model_job_id": model_job_id})
    yield Live(settings, factory, dataset_id, jobs, late, labels, cache, extension_jobs)
    engine.dispose()


def _job(live: Live, name: str) -> Job:
    with live.factory() as session:
        return session.get(Job, live.jobs[name])


def _rows(item_ids: np.ndarray, values: np.ndarray, wanted) -> np.ndarray:
    rows, found = rows_of(item_ids, np.asarray(wanted, np.int64))
    assert found.all()
    return np.asarray(values)[rows]


def test_each_attached_job_got_one_small_job_that_succeeded(live):
    with live.factory() as session:
        extension = [session.get(Job, job_id) for job_id in live.extension_jobs]
    assert [job.kind for job in extension] == ["live_features"] * 3
    assert all(job.status == "succeeded" for job in extension), [j.error for j in extension]
    added = {job.params["feature_job_id"]: job.result for job in extension}
    assert added[live.jobs["autoencoder_infer"]]["added"] == N_LATE
    scattering = added[live.jobs["scattering_features"]]
    assert scattering["added"] == N_LATE - 1 and scattering["already_present"] == 1


@pytest.mark.parametrize("kind, key", [("autoencoder_infer", "latents"),
                                       ("classifier_infer", "features")])
def test_new_rows_equal_what_a_full_inference_computes(live, kind, key):
    item_ids, vectors = load_vectors(_job(live, kind))
    full_ids, full_vectors = load_vectors(_job(live, f"{kind}_rerun"))
    assert len(item_ids) == N_FIRST + N_LATE == len(set(item_ids.tolist()))
    assert item_ids[-N_LATE:].tolist() == live.late  # the original rows come first
    np.testing.assert_allclose(_rows(item_ids, vectors, live.late),
                               _rows(full_ids, full_vectors, live.late), rtol=1e-4, atol=1e-5)
    assert Path(_job(live, kind).artifact_dir, LIVE_FOLDER).is_dir()


@pytest.mark.parametrize("kind", ["autoencoder_infer", "classifier_infer", "backbone_features",
                                  "contrastive_features"])
def test_a_jobs_model_computes_again_the_rows_the_job_stored(live, tmp_path, kind):
    """The rows a kind's Extension computes for items the job has are the job's own: its
    saved model and the batches read for a few items reproduce the full run."""
    job = _job(live, kind)
    with live.factory() as session:
        dataset = session.get(Dataset, live.dataset_id)
        items = list(session.scalars(select(Item).where(Item.dataset_id == live.dataset_id)
                                     .order_by(Item.id).limit(5)))
    with transaction(live.factory) as session:
        runner = create_job(session, "live_features", live.dataset_id,
                            {"feature_job_id": job.id, "item_ids": [i.id for i in items]}, "t")
        context = JobContext(runner.id, runner.kind, dict(runner.params), dataset, tmp_path,
                             live.factory)
    rows = JOB_KINDS[kind].extend.rows(context, job, items)
    assert rows["item_ids"].tolist() == [item.id for item in items]
    item_ids, vectors = load_vectors(job)
    key = "latents" if kind == "autoencoder_infer" else "features"
    np.testing.assert_allclose(rows[key], _rows(item_ids, vectors, rows["item_ids"]),
                               rtol=1e-4, atol=1e-5)
    if kind == "classifier_infer":
        item_ids, probabilities, _columns = load_probabilities(job)
        np.testing.assert_allclose(rows["probabilities"],
                                   _rows(item_ids, probabilities, rows["item_ids"]),
                                   rtol=1e-4, atol=1e-6)


def test_new_items_have_the_class_probabilities_of_a_full_inference(live):
    item_ids, probabilities, columns = load_probabilities(_job(live, "classifier_infer"))
    full_ids, full, full_columns = load_probabilities(_job(live, "classifier_infer_rerun"))
    assert columns == full_columns == [live.labels[name] for name in CLASSES]
    np.testing.assert_allclose(_rows(item_ids, probabilities, live.late),
                               _rows(full_ids, full, live.late), rtol=1e-4, atol=1e-6)


def test_an_item_arriving_alone_scores_as_in_a_full_scattering_run(live):
    item_ids, features = load_vectors(_job(live, "scattering_features"))
    full_ids, full = load_vectors(_job(live, "scattering_rerun"))
    assert len(full_ids) == N_FIRST + 1
    np.testing.assert_allclose(_rows(item_ids, features, live.late[:1]),
                               _rows(full_ids, full, live.late[:1]), atol=1e-6)
    assert len(item_ids) == N_FIRST + N_LATE


def test_normal_scores_against_a_reference_match_those_of_the_whole_set():
    rng = np.random.default_rng(1)
    reference = rng.integers(0, 5, (30, 3)).astype(np.float32)  # ties, like counts
    new = np.array([[2, -1, 9], [0, 4, 2.5]], np.float32)
    scores = normal_scores_against(new, np.sort(reference, axis=0))
    for row in range(len(new)):
        whole = np.vstack([reference, new[row:row + 1]])
        to_normal_scores(whole)
        np.testing.assert_allclose(scores[row], whole[-1], atol=1e-6)


def test_similarity_and_suggestions_include_new_items_though_cached_before(live):
    query = live.late[1]
    with live.factory() as session:
        ranking = rankings.similar(session, live.cache, live.dataset_id,
                                   live.jobs["autoencoder_infer"], [query], limit=N_FIRST + N_LATE,
                                   match="mean")
        model = rankings.suggestion_model(session, live.cache, live.dataset_id,
                                          live.jobs["classifier_infer"])
    assert set(live.late) <= set(ranking.item_ids.tolist())  # unlabeled: all are ranked
    assert ranking.item_ids[0] == query and ranking.distances[0] < 1e-5
    page_ids, label_ids, confidences = model.review_page(N_FIRST + N_LATE, 0)
    assert set(page_ids.tolist()) == set(live.late)  # the only unlabeled items
    assert set(label_ids.tolist()) <= set(live.labels.values())
    assert np.all((confidences >= 0) & (confidences <= 1))


def test_probability_labeling_takes_new_items(live):
    with live.factory() as session:
        batch = rankings.probability_batch(session, live.dataset_id, "tester",
                                           live.jobs["classifier_infer"],
                                           live.labels["rings"], threshold=0.0)
    assert set(batch.plan.to_label) == set(live.late)  # labeled items keep their label


def test_items_already_present_are_not_added_again(live):
    job_id = _run(live.factory, live.settings, "live_features", live.dataset_id,
                  {"feature_job_id": live.jobs["classifier_infer"],
                   "item_ids": live.late + [live.late[0] - 1]})
    with live.factory() as session:
        result = session.get(Job, job_id).result
    assert result["added"] == 0 and result["already_present"] == N_LATE + 1
    assert result["chunk"] is None
    item_ids, _vectors = load_vectors(_job(live, "classifier_infer"))
    assert len(item_ids) == N_FIRST + N_LATE


def test_a_race_that_appends_an_item_twice_keeps_its_first_row(tmp_path, live):
    dataset_id, ids, _labels = make_dataset(live.factory, 3, name="race")
    job_id = make_feature_job(live.factory, dataset_id, tmp_path, ids[:2], np.eye(2, 3))
    with live.factory() as session:
        job = session.get(Job, job_id)
        before = feature_version(job)
        (Path(job.artifact_dir) / LIVE_FOLDER / ".part-left-by-a-crash").mkdir(parents=True)
        for value in (7.0, 9.0):  # two writers add the third item at once
            append_chunk(job.artifact_dir, {"item_ids": np.array([ids[2]], np.int64),
                                            "latents": np.full((1, 3), value, np.float32)})
        item_ids, vectors = load_vectors(job)
        assert [folder.name for folder in chunk_folders(job.artifact_dir)] == ["00001", "00002"]
        assert feature_version(job) != before  # a cached index of the job is not served
    assert item_ids.tolist() == ids
    np.testing.assert_array_equal(vectors[2], [7.0, 7.0, 7.0])


def _refusal(live: Live, params: dict, dataset_id=None) -> DomainError:
    with pytest.raises(DomainError) as refused:
        with transaction(live.factory) as session:
            create_job(session, "live_features", dataset_id or live.dataset_id, params, "t")
    return refused.value


@pytest.mark.parametrize("params, status, field, words", [
    ({"item_ids": [1]}, 400, "params.feature_job_id", "required"),
    ({"feature_job_id": 10**6, "item_ids": [1]}, 404, "params.feature_job_id", "no job"),
    ({"feature_job_id": "classifier_train", "item_ids": [1]}, 400, "params.feature_job_id",
     "not a finished inference job"),
    ({"feature_job_id": "autoencoder_infer", "item_ids": []}, 400, "params.item_ids", "1 to"),
    ({"feature_job_id": "autoencoder_infer", "item_ids": [True]}, 400, "params.item_ids",
     "integers"),
    ({"feature_job_id": "autoencoder_infer", "item_ids": list(range(1, MAX_ITEMS + 2))}, 400,
     "params.item_ids", f"1 to {MAX_ITEMS}"),
    ({"feature_job_id": "autoencoder_infer", "item_ids": [10**6]}, 400, "params.item_ids",
     "not items of data set"),
])
def test_bad_params_are_refused_naming_the_field(live, params, status, field, words):
    if isinstance(params.get("feature_job_id"), str):
        name = params["feature_job_id"]
        with live.factory() as session:
            params = {**params, "feature_job_id": live.jobs.get(name) or session.scalar(
                select(Job.id).where(Job.kind == name))}
    error = _refusal(live, params)
    assert (error.status, error.field) == (status, field) and words in str(error), str(error)


def test_a_job_of_another_data_set_or_kind_or_without_its_model_is_refused(tmp_path, live):
    other, ids, _labels = make_dataset(live.factory, 2, name="other")
    error = _refusal(live, {"feature_job_id": live.jobs["autoencoder_infer"],
                            "item_ids": ids}, other)
    assert error.field == "params.feature_job_id" and "belongs to data set" in str(error)
    modelless = make_feature_job(live.factory, other, tmp_path, ids, np.eye(2))
    error = _refusal(live, {"feature_job_id": modelless, "item_ids": ids}, other)
    assert "model that made it" in str(error) and "is gone" in str(error)
    with transaction(live.factory) as session:
        session.get(Job, modelless).kind = "label_features"
    error = _refusal(live, {"feature_job_id": modelless, "item_ids": ids}, other)
    assert "cannot take new items" in str(error) and "label_features" in str(error)


def test_feature_jobs_are_attached_over_rest(live):
    server = create_server(live.settings)
    api = Api(server)
    url = f"/datasets/{live.dataset_id}/live-features"
    try:
        assert api.get(url).json["feature_job_ids"] == [
            live.jobs[name] for name in ("autoencoder_infer", "classifier_infer",
                                         "scattering_features")]
        chosen = [live.jobs["classifier_infer"]]
        answer = api.call("PUT", url, json={"feature_job_ids": chosen})
        assert answer.status_code == 200 and answer.json["feature_job_ids"] == chosen
        with live.factory() as session:
            assert attached_feature_jobs(session, live.dataset_id) == chosen
            train_job = session.scalar(select(Job.id).where(Job.kind == "classifier_train"))
        assert_error(api.call("PUT", "/datasets/999/live-features",
                              json={"feature_job_ids": []}), 404, "dataset_id")
        assert_error(api.call("PUT", url, json={"feature_job_ids": [10**6]}), 404,
                     "feature_job_ids", "no job")
        assert_error(api.call("PUT", url, json={"feature_job_ids": [train_job]}), 400,
                     "feature_job_ids", "not a finished inference job")
        assert_error(api.call("PUT", url, json={"feature_job_ids": "all"}), 422,
                     "feature_job_ids")
        assert_error(api.call("PUT", url, json={"feature_job_ids": list(range(1, 10))}), 422,
                     "feature_job_ids")
        with live.factory() as session:  # the refusals changed nothing
            assert attached_feature_jobs(session, live.dataset_id) == chosen
    finally:
        server.extensions["beamlabel"].engine.dispose()
