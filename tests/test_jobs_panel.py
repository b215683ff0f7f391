"""The jobs panel's words and links, without a browser."""
from __future__ import annotations

import pytest

from callbacks.jobs_panel import RESULT_PAGES, results_link, size_text
from db.models import Job
from ml.kinds import JOB_KINDS

# Kinds whose results no page shows: their link opens the job's JSON (result included).
SHOWN_BY_THEIR_JSON = {"dataset_stats", "live_features"}


def test_every_kind_links_to_where_its_results_are_shown():
    """A new kind must be given its page here (or be added to the JSON-only set)."""
    assert set(JOB_KINDS) - set(RESULT_PAGES) == SHOWN_BY_THEIR_JSON
    assert set(RESULT_PAGES) <= set(JOB_KINDS)


@pytest.mark.parametrize("kind, href", [
    ("classifier_infer", "/classifier?dataset=3&job=12"),
    ("contrastive_features", "/autoencoder?dataset=3&job=12"),
    ("projection", "/explorer?dataset=3&projection=12"),
    ("dataset_stats", "/api/v1/jobs/12"),
])
def test_the_link_opens_the_page_on_the_data_set_with_the_job_chosen(kind, href):
    assert results_link(Job(id=12, kind=kind, dataset_id=3))[0] == href


@pytest.mark.parametrize("size, text", [(0, "0 bytes"), (999, "999 bytes"),
                                        (1_500, "1.5 kB"), (3_400_000, "3.4 MB"),
                                        (2e15, "2000.0 TB")])
def test_sizes_read_as_people_say_them(size, text):
    assert size_text(size) == text
