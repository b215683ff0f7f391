"""The suggestion review sorted newest first: the unlabeled items newest first, each with
its suggestion once the feature job holds its row (a live arrival has none yet)."""
import numpy as np
import pytest

from app import create_server
from callbacks.guided_order import guided_order
from db.session import transaction
from db.store import TagIn, apply_event
from settings import Settings
from tests.databases import make_dataset
from tests.feature_jobs import make_feature_job

N_ITEMS, WITH_ROWS = 20, 18  # the last two items arrived after the feature job ran
RING, PEAK = range(0, 9), range(9, 18)  # the feature job's two groups


@pytest.fixture
def review(tmp_path):
    settings = Settings(home=tmp_path / "home", data_roots=(tmp_path,), cache_url="null://",
                        tagger="tester")
    server = create_server(settings)
    factory = server.extensions["beamlabel"].session_factory
    dataset_id, ids, labels = make_dataset(factory, N_ITEMS, ("ring", "peak"))
    rng = np.random.default_rng(0)
    # one feature that tells the groups apart (a second, of noise only, would weigh as much
    # once scaled for a model fitted on four labels)
    centres = np.array([[4.0]] * len(RING) + [[-4.0]] * len(PEAK))
    job_id = make_feature_job(factory, dataset_id, tmp_path, ids[:WITH_ROWS],
                              centres + rng.normal(0, 0.3, centres.shape))
    with transaction(factory) as session:
        apply_event(session, dataset_id, "tester", "manual",
                    [TagIn(ids[i], labels["ring"]) for i in (0, 1)]
                    + [TagIn(ids[i], labels["peak"]) for i in (9, 10)])
    with server.app_context():
        yield factory, dataset_id, ids, labels, job_id


def order_of(review, label_id=None):
    factory, dataset_id, _ids, _labels, job_id = review
    spec = {"kind": "suggestions", "job_id": job_id, "page_size": 12, "label_id": label_id,
            "newest": True}
    with factory() as session:
        return guided_order(session, dataset_id, spec)


def test_newest_first_lists_unlabeled_items_with_the_suggestions_known(review):
    _factory, _dataset_id, ids, labels, _job = review
    order = order_of(review)
    unlabeled = [i for i in range(N_ITEMS) if i not in (0, 1, 9, 10)]
    assert order.item_ids == [ids[i] for i in reversed(unlabeled)]
    assert order.suggested == {**{ids[i]: labels["ring"] for i in RING if i > 1},
                               **{ids[i]: labels["peak"] for i in PEAK if i > 10}}
    assert order.notes[ids[17]].startswith("→ peak ")
    assert ids[19] not in order.notes  # no feature row yet: no suggestion on its tile
    assert "newest first" in order.title

    only_peaks = order_of(review, labels["peak"])
    assert only_peaks.item_ids == [ids[i] for i in reversed(PEAK) if i > 10]
