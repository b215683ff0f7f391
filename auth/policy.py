"""The role each route and each Dash callback needs: the one table the guard reads.

Roles rise viewer < labeler < trainer < admin (``db.users.ROLES``). Reading (GET) needs a
viewer; every write is listed here by name. A write route or a callback module that is
not listed needs an admin: something new is closed until it is placed in this table.
"""
from __future__ import annotations

from typing import Callable, Optional

# Open to everybody: the login page, and the files every page loads (no data in them).
PUBLIC_PATHS = ("/login", "/_dash-component-suites/", "/assets/", "/vendor/",
                "/_favicon.ico")
READ_METHODS = ("GET", "HEAD", "OPTIONS")

# Routes that change something, by Flask endpoint.
WRITE_ROUTES = {
    "auth.logout": "viewer",
    "api.guided.similar_items": "viewer",  # a POST only for its long query; it reads
    "api.labels.create_event": "labeler",
    "api.labels.undo_event": "labeler",  # their own events; an admin's any
    "api.transfer.import_labels": "labeler",
    "api.guided.probability_labels": "labeler",
    "api.guided.similarity_labels": "labeler",
    "api.guided.suggestion_labels": "labeler",
    "api.jobs.create_job": "trainer",
    "api.jobs.cancel_job": "trainer",  # their own jobs; an admin's any
    "api.jobs.delete_job": "trainer",
    "api.library.update_model": "trainer",  # their own models (training jobs); an admin's any
    "api.library.delete_model": "trainer",
    "api.library.import_model": "trainer",  # a model file becomes a new model
    "api.retrain_loop.set_retrain_loop": "trainer",
    "api.retrain_loop.retrain_now": "trainer",
    "api.live_features.set_live_features": "trainer",  # new items start jobs with them
    "api.accounts.create_token": "viewer",
    "api.accounts.revoke_token": "viewer",
    "api.datasets.create_dataset": "admin",
    "api.datasets.update_dataset": "admin",  # marks it live: the server watches its folder
    "api.datasets.replay_dataset": "admin",  # writes files into the data home, a new data set
    "api.labels.create_label": "admin",
    "api.labels.update_label": "admin",
    "api.labels.delete_label": "admin",
    "api.labels.reorder_labels": "admin",
    "api.accounts.create_user": "admin",
    "api.accounts.update_user": "admin",
}
# Reading routes only some roles may use.
READ_ROUTES = {"api.accounts.get_users": "admin", "api.accounts.audit": "admin",
               "api.pixels.item_pixels": "viewer",  # listed: it reads images at full size
               "api.library.export_model": "viewer"}  # listed: a model's weights leave

# Dash callbacks, by the module that defines them, then by function where it differs.
CALLBACK_MODULES = {
    "callbacks.autoencoder": "viewer",
    "callbacks.classifier": "viewer",
    "callbacks.classifier_probabilities": "viewer",  # reads an inference's probabilities
    "callbacks.common": "viewer",
    "callbacks.datasets": "admin",  # registering folders, browsing the server's folders
    "callbacks.explorer": "viewer",
    "callbacks.feature_sources": "viewer",
    "callbacks.job_launch": "trainer",
    "callbacks.jobs": "viewer",
    "callbacks.jobs_panel": "viewer",
    "callbacks.label": "viewer",
    "callbacks.label_classes": "admin",
    "callbacks.label_follow": "viewer",  # reads counts of arrivals
    "callbacks.label_guided": "viewer",
    "callbacks.label_history": "viewer",
    "callbacks.label_retrain_loop": "viewer",
    "callbacks.label_similarity": "viewer",
    "callbacks.label_suggestions": "viewer",
    "callbacks.label_viewer": "viewer",
    "callbacks.models": "viewer",
    "callbacks.profile": "viewer",  # one's own API tokens
    "dash": "viewer",  # Dash's own: the page router
}
CALLBACKS = {
    "callbacks.classifier.apply_model": "trainer",  # starts an inference job
    "callbacks.datasets.show_datasets": "viewer",
    "callbacks.datasets.switch_live": "admin",  # the server then watches the folder
    "callbacks.explorer.compute": "trainer",
    "callbacks.explorer.label": "labeler",
    "callbacks.feature_sources.compute_features": "trainer",
    "callbacks.job_launch.list_start_models": "viewer",  # reads the models to start from
    "callbacks.jobs_panel.cancel_or_delete": "trainer",
    "callbacks.label.label_selection": "labeler",
    "callbacks.label_classes.show_classes": "viewer",
    "callbacks.label_guided.apply_probability": "labeler",
    "callbacks.label_guided.take_new_labels": "labeler",
    "callbacks.label_history.undo_from_history": "labeler",
    "callbacks.label_history.import_labels": "labeler",
    "callbacks.label_retrain_loop.loop_setting": "trainer",
    "callbacks.label_retrain_loop.retrain_now": "trainer",
    "callbacks.label_suggestions.accept_page": "labeler",
    "callbacks.label_viewer.label_viewed_item": "labeler",
    "callbacks.models.save_card": "trainer",  # their own models; an admin's any
    "callbacks.models.delete_model": "trainer",
    "callbacks.models.import_model": "trainer",
}


def route_role(endpoint: Optional[str], method: str) -> str:
    if method in READ_METHODS:
        return READ_ROUTES.get(endpoint or "", "viewer")
    return WRITE_ROUTES.get(endpoint or "", "admin")


def callback_name(function: Callable) -> str:
    """``module.function`` of a callback, the closure's own name for one made by a
    factory (``register_model_page.<locals>.train`` is ``train``)."""
    function = getattr(function, "__wrapped__", function)
    return f"{function.__module__}.{function.__qualname__.rpartition('.')[2]}"


def callback_role(name: str) -> str:
    if name in CALLBACKS:
        return CALLBACKS[name]
    module = name.rpartition(".")[0]
    while module:
        if module in CALLBACK_MODULES:
            return CALLBACK_MODULES[module]
        module = module.rpartition(".")[0]
    return "admin"
