"""The HTTP layer: the REST API under ``/api/v1`` (described by the OpenAPI document at
``/api/v1/openapi.json``), the thumbnail route and the job-files route.

A thin adapter: each route validates the request's shape with a pydantic model
(``api.models``, ``api.models_jobs``), calls one function of ``db/``, ``data/`` or ``ml/``
and turns the result into a response model. Every write runs inside one
``transaction(...)``, so a refused request leaves nothing behind. Every 4xx answer is
``{"error": ..., "field": ...}`` (``api.error_answers``).
"""
from __future__ import annotations

from flask_openapi3 import OpenAPI

from api import (accounts, datasets, guided, job_files, jobs, labels, library,
                 live_features, pixels, retrain_loop, thumbnails, transfer)
from api.blueprints import api_blueprint
from api.error_answers import validation_error_response
from api.models import ErrorOut

# The REST resource groups, in the order of the OpenAPI document.
RESOURCE_GROUPS = (datasets, pixels, labels, transfer, jobs, library, guided, retrain_loop,
                   live_features, accounts)


def register(server: OpenAPI) -> None:
    """Add the API, with validation errors in the API's error shape, and the image routes."""
    server.validation_error_callback = validation_error_response
    server.validation_error_model = ErrorOut
    server.register_api(api_blueprint(*(group.blueprint for group in RESOURCE_GROUPS)))
    server.register_blueprint(thumbnails.blueprint)
    server.register_blueprint(job_files.blueprint)
