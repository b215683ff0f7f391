"""The OpenAPI document describes every route of the REST API."""
from __future__ import annotations

from tests.api_client import api, server, settings  # noqa: F401 (fixtures)


ROUTES = {
    "/api/v1/datasets": {"get", "post"},
    "/api/v1/datasets/{dataset_id}": {"get", "patch"},
    "/api/v1/datasets/{dataset_id}/items": {"get"},
    "/api/v1/items/{item_id}/pixels": {"get"},
    "/api/v1/datasets/{dataset_id}/labels": {"get", "post"},
    "/api/v1/datasets/{dataset_id}/labels/{label_id}": {"patch", "delete"},
    "/api/v1/datasets/{dataset_id}/labels/order": {"put"},
    "/api/v1/datasets/{dataset_id}/events": {"get", "post"},
    "/api/v1/events/{event_id}/undo": {"post"},
    "/api/v1/datasets/{dataset_id}/current-labels": {"get"},
    "/api/v1/datasets/{dataset_id}/export": {"get"},
    "/api/v1/datasets/{dataset_id}/import": {"post"},
    "/api/v1/jobs": {"get", "post"},
    "/api/v1/jobs/{job_id}": {"get", "delete"},
    "/api/v1/jobs/{job_id}/cancel": {"post"},
    "/api/v1/models": {"get"},
    "/api/v1/models/{model_id}": {"get", "patch", "delete"},
    "/api/v1/models/{model_id}/export": {"get"},
    "/api/v1/models/import": {"post"},
    "/api/v1/datasets/{dataset_id}/retrain-loop": {"get", "put"},
    "/api/v1/datasets/{dataset_id}/retrain-loop/run": {"post"},
    "/api/v1/datasets/{dataset_id}/live-features": {"get", "put"},
    "/api/v1/datasets/{dataset_id}/replay": {"post"},
    "/api/v1/me": {"get"},
    "/api/v1/me/tokens": {"get", "post"},
    "/api/v1/me/tokens/{token_id}": {"delete"},
    "/api/v1/users": {"get", "post"},
    "/api/v1/users/{name}": {"patch"},
    "/api/v1/audit": {"get"},
}
REQUEST_SCHEMAS = {
    ("/api/v1/datasets", "post"): "DatasetIn",
    ("/api/v1/datasets/{dataset_id}", "patch"): "DatasetPatchIn",
    ("/api/v1/datasets/{dataset_id}/labels", "post"): "LabelIn",
    ("/api/v1/datasets/{dataset_id}/events", "post"): "EventIn",
    ("/api/v1/events/{event_id}/undo", "post"): "UndoIn",
    ("/api/v1/datasets/{dataset_id}/labels/{label_id}", "patch"): "LabelPatchIn",
    ("/api/v1/datasets/{dataset_id}/labels/order", "put"): "LabelOrderIn",
    ("/api/v1/jobs", "post"): "JobIn",
    ("/api/v1/models/{model_id}", "patch"): "ModelPatchIn",
    ("/api/v1/datasets/{dataset_id}/retrain-loop", "put"): "RetrainLoopIn",
    ("/api/v1/datasets/{dataset_id}/live-features", "put"): "LiveFeaturesIn",
    ("/api/v1/datasets/{dataset_id}/replay", "post"): "ReplayIn",
    ("/api/v1/me/tokens", "post"): "TokenIn",
    ("/api/v1/users", "post"): "UserIn",
}


def test_openapi_document_describes_every_route(api):
    response = api.get("/openapi.json")
    assert response.status_code == 200
    doc = response.json
    assert doc["info"]["title"] == "beamlabel API"
    operation_ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(set(operation_ids)) == len(operation_ids) == 50
    assert "create_event" in operation_ids
    paths = doc["paths"]
    for path, methods in ROUTES.items():
        assert path in paths, sorted(paths)
        assert set(paths[path]) == methods, (path, set(paths[path]))
        for method in methods:
            operation = paths[path][method]
            assert operation["summary"] and operation["tags"], (path, method)
            assert "422" in operation["responses"]
    schemas = doc["components"]["schemas"]
    for (path, method), name in REQUEST_SCHEMAS.items():
        body = paths[path][method]["requestBody"]["content"]["application/json"]["schema"]
        assert body["$ref"].endswith("/" + name), body
        assert name in schemas
    assert paths["/api/v1/events/{event_id}/undo"]["post"]["requestBody"]["required"] is False
    assert {"DirectorySourceIn", "TiledSourceIn", "TagIn", "ErrorOut"} <= set(schemas)
    source = schemas["DatasetIn"]["properties"]["source"]
    assert source["discriminator"]["propertyName"] == "kind"
    assert set(schemas["TagIn"]["required"]) == {"item_id", "label_id"}
    assert schemas["TagIn"]["properties"]["confidence"]["anyOf"][0]["maximum"] == 1.0
    parameters = {p["name"]: p for p in paths["/api/v1/datasets/{dataset_id}/items"]["get"][
        "parameters"]}
    assert set(parameters) == {"dataset_id", "offset", "limit", "label", "unlabeled"}
    assert parameters["limit"]["schema"]["maximum"] == 1000
    created = paths["/api/v1/datasets"]["post"]["responses"]["201"]
    assert created["content"]["application/json"]["schema"]["$ref"].endswith("DatasetDetailOut")
    assert "api_key" not in str(schemas["DatasetOut"])

    export = paths["/api/v1/datasets/{dataset_id}/export"]["get"]
    assert set(export["responses"]["200"]["content"]) == {"text/csv", "application/json",
                                                          "application/zip"}
    export_parameters = {p["name"]: p for p in export["parameters"]}
    assert export_parameters["format"]["schema"]["enum"] == ["csv", "json", "zip"]
    imported = paths["/api/v1/datasets/{dataset_id}/import"]["post"]
    assert set(imported["requestBody"]["content"]) == {"text/csv"}
    assert {p["name"] for p in imported["parameters"]} == {"dataset_id", "tagger",
                                                           "create_missing_labels"}
    assert imported["responses"]["201"]["content"]["application/json"]["schema"][
        "$ref"].endswith("ImportOut")
    deleted = paths["/api/v1/datasets/{dataset_id}/labels/{label_id}"]["delete"]
    assert {p["name"] for p in deleted["parameters"]} == {"dataset_id", "label_id", "confirm",
                                                          "tagger"}
