"""The API fuzzed from its own OpenAPI document (schemathesis), on SQLite and PostgreSQL.

Every operation gets requests that fit its schema and requests that break it, with a fixed
seed and a few examples each, against a server holding a scanned data set and a label
class (so small ids name real rows). No answer may be a 5xx, nor differ from what the
document says (status, media type, body schema). Schema-valid requests may still be
refused with a 4xx: rules about the data (a folder inside the data roots, a finished job
of the right kind) are not in the schema.
"""
from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, Phase, given, seed
from hypothesis import settings as run_settings
from schemathesis.checks import positive_data_acceptance
from schemathesis.generation import GenerationMode

from tests.api_client import (PREFIX, api, dataset, folder, labels, server,  # noqa: F401
                              settings)

EXAMPLES_PER_OPERATION = 25


def _failures_of(operation) -> list[str]:
    strategy = operation.as_strategy(generation_mode=GenerationMode.POSITIVE) \
        | operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)
    failures: list[str] = []

    @seed(20261203)
    @run_settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True,
                  database=None, suppress_health_check=list(HealthCheck),
                  phases=[Phase.explicit, Phase.generate])
    @given(case=strategy)
    def call(case):
        response = case.call()
        try:
            case.validate_response(response, excluded_checks=[positive_data_acceptance])
        except Exception as error:  # every failure is collected, not only the first
            failures.append(f"{case.method} {case.formatted_path} {case.query or ''} "
                            f"{str(case.body)[:200]}: {str(error)[:1500]}")

    call()
    return failures


def test_every_operation_survives_fuzzing(server, api, dataset, labels):
    schema = schemathesis.openapi.from_wsgi(PREFIX + "/openapi.json", server)
    failures, operations = [], 0
    for result in schema.get_all_operations():
        operation = result.ok()  # an operation the document describes badly fails here
        operations += 1
        failures += _failures_of(operation)
    assert operations >= 39
    assert not failures, f"{len(failures)} failures, the first:\n" + "\n\n".join(failures[:5])
