"""Every entry of every registry keeps the registry's promises; these tests grow with the
registries (job kinds, projections, clusterings, export formats, data source kinds)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest

from data.catalog import source_of
from data.export import EXPORT_FORMATS
from data.sources import SOURCE_KINDS, open_source
from db.models import Dataset
from errors import DomainError
from ml.jobs import TASK_NAMES
from ml.kinds import JOB_KINDS, QUEUES
from ml.projection import CLUSTERINGS, PROJECTIONS, check_method
from tests.test_export import EXPECTED, folder, labeled  # noqa: F401  (fixtures)


def defaults_of(check: Callable[[dict], dict]) -> dict[str, Any]:
    """The parameters ``check`` makes of {}, giving 1 to each field it says is required."""
    given: dict[str, Any] = {}
    for _ in range(10):
        try:
            return check(dict(given))
        except DomainError as error:
            name = (error.field or "").removeprefix("params.")
            if "required" not in str(error) or not name or name in given:
                raise
            given[name] = 1
    raise AssertionError(f"more than 10 required fields: {sorted(given)}")


@pytest.mark.parametrize("name", sorted(JOB_KINDS))
def test_job_kind_defaults_round_trip_through_its_check(name):
    kind = JOB_KINDS[name]
    assert kind.name == name and kind.queue in QUEUES and kind.queue in TASK_NAMES
    assert kind.description and callable(kind.run)
    checked = defaults_of(kind.check_params)
    assert kind.check_params(dict(checked)) == checked


@pytest.mark.parametrize("name", sorted(JOB_KINDS))
def test_job_kind_refuses_an_unknown_parameter_by_name(name):
    checked = defaults_of(JOB_KINDS[name].check_params)
    with pytest.raises(DomainError) as refused:
        JOB_KINDS[name].check_params({**checked, "no_such_parameter": 1})
    assert refused.value.field == "params.no_such_parameter"


@pytest.mark.parametrize("registry, name", [(PROJECTIONS, name) for name in PROJECTIONS]
                         + [(CLUSTERINGS, name) for name in CLUSTERINGS])
def test_method_defaults_round_trip_and_bounds_are_checked(registry, name):
    checked = check_method(registry, name, {})
    assert set(checked) == set(registry[name].params)
    assert check_method(registry, name, dict(checked)) == checked
    numbers = {key: spec for key, spec in registry[name].params.items()
               if getattr(spec, "high", None) is not None}
    for key, spec in numbers.items():
        with pytest.raises(DomainError) as refused:
            check_method(registry, name, {key: spec.high + 1}, "params.x")
        assert refused.value.field == f"params.x.{key}"


@pytest.mark.parametrize("name", sorted(EXPORT_FORMATS))
def test_every_export_format_names_every_labeled_item(name, session_factory, labeled):
    dataset_id = labeled[0]
    export = EXPORT_FORMATS[name]
    with session_factory() as session:
        source = source_of(session.get(Dataset, dataset_id)) if export.needs_source else None
    chunks = list(export.write(session_factory, dataset_id, source))
    output = b"".join(c if isinstance(c, bytes) else c.encode() for c in chunks)
    assert export.media_type and export.suffix
    for uri, *_rest in EXPECTED:  # zip member names are stored uncompressed
        assert Path(uri.split("#")[0]).stem.encode() in output, (name, uri)


@pytest.mark.parametrize("kind", sorted(SOURCE_KINDS))
def test_every_source_kind_opens_as_itself(kind, tmp_path):
    location = str(tmp_path) if kind == "directory" else "http://127.0.0.1:9/api/v1/metadata/x"
    source = open_source(kind, location)
    assert source.kind == kind
    for member in ("list_items", "probe", "read"):
        assert callable(getattr(source, member))
