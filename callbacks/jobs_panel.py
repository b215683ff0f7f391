"""Behaviour of the jobs panel (pages/_jobs_panel.py), for every page at once.

Every id carries the page's scope and the callbacks MATCH on it. The list polls the jobs
table only while one of its jobs is queued or running: the interval switches itself off.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import dash_bootstrap_components as dbc
from dash import ALL, MATCH, Input, Output, State, callback, ctx, html, no_update
from dash.exceptions import PreventUpdate

from auth.ownership import check_may_change_job
from callbacks.common import error_alert, on_refusal, read_session, write_session
from callbacks.ids import JobsPanel as ids
from db import jobs as job_store
from db.lookups import dataset_names, find_job
from db.models import as_utc
from ml.jobs import cancel_job, log_tail
from services import current_services

if TYPE_CHECKING:
    from db.models import Job

ACTIVE = ("queued", "running")
# Where each kind's results are shown: (path, page name, the query parameter that selects
# the job there). Kinds left out are shown by the job's own JSON.
RESULT_PAGES = {
    **dict.fromkeys(("classifier_train", "classifier_infer"),
                    ("/classifier", "the Classifier page", "job")),
    **dict.fromkeys(("autoencoder_train", "autoencoder_infer", "scattering_features",
                     "contrastive_features", "label_features", "backbone_features"),
                    ("/autoencoder", "the Autoencoder page", "job")),
    "projection": ("/explorer", "the Explorer", "projection"),
}
LISTED_JOBS = 50
STATUS_COLORS = {"queued": "secondary", "running": "primary", "succeeded": "success",
                 "failed": "danger", "cancelled": "warning"}


def _part(name: str) -> dict:
    return {"type": name, "scope": MATCH}


def duration_text(job: Job) -> str:
    """How long the job ran (or has been running), e.g. '2 min 05 s'."""
    started = as_utc(job.started_at)
    if started is None:
        return "not started"
    seconds = int(((as_utc(job.finished_at) or datetime.now(timezone.utc)) - started)
                  .total_seconds())
    minutes, seconds = divmod(max(seconds, 0), 60)
    return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"


def _ran(job: Job) -> str:
    return f"ran {duration_text(job)}" if job.started_at else "not started"


def metric_text(job: Job) -> str:
    """The last metrics row in a few words, e.g. 'epoch 3 · val_loss 0.0123'."""
    if not job.metrics:
        return ""
    last = job.metrics[-1]
    parts = [f"epoch {last['epoch']}"] if "epoch" in last else []
    parts += [f"{name} {value:.4g}" for name, value in last.items()
              if name.startswith("val_") and isinstance(value, (int, float))]
    return " · ".join(parts)


def results_link(job: Job) -> tuple[str, str]:
    """(address, page name) of where the job's results are shown: the page of its kind,
    opened on its data set with the job selected; the job's own JSON for other kinds."""
    page = RESULT_PAGES.get(job.kind)
    if page is None:
        return f"/api/v1/jobs/{job.id}", "job details (JSON)"
    path, name, job_parameter = page
    query = {"dataset": job.dataset_id, job_parameter: job.id}
    return f"{path}?{urlencode({key: value for key, value in query.items() if value})}", name


def dataset_text(job: Job, names: dict[int, str]) -> str:
    if job.dataset_id is None:
        return "no data set"
    return names.get(job.dataset_id, f"data set {job.dataset_id} (deleted)")


def _row(job: Job, scope: str, selected: bool, names: dict[int, str]):
    status = dbc.Badge(job.status, color=STATUS_COLORS.get(job.status, "secondary"),
                       className="me-2")
    progress = (dbc.Progress(value=100 * job.progress, label=f"{100 * job.progress:.0f} %",
                             style={"height": "14px", "width": "8rem"}, className="ms-2")
                if job.status == "running" else None)
    href, page_name = results_link(job)
    return html.Div([
        html.Span(f"#{job.id}", className="fw-semibold me-2"), status,
        html.Span(job.kind, className="me-2"),
        html.Span(dataset_text(job, names), className="jobs-dataset small me-2"),
        html.Span(metric_text(job), className="text-muted small me-2"),
        html.Span(duration_text(job), className="text-muted small me-2"),
        html.Span(job.owner, className="text-muted small"), progress,
        html.A(["results ", html.I(className="bi bi-box-arrow-up-right")], href=href,
               title=f"open {page_name}", className="small ms-auto ps-2",
               id={"type": ids.RESULTS_LINK, "scope": scope, "job": job.id}),
    ], id={"type": ids.ROW, "scope": scope, "job": job.id},
        className="jobs-row selected" if selected else "jobs-row")


def _listed(session, job_filter: dict) -> list[Job]:
    return job_store.list_jobs(session, job_filter.get("dataset_id"),
                               kinds=job_filter.get("kinds"),
                               statuses=job_filter.get("statuses"), limit=LISTED_JOBS)


@callback(Output(_part(ids.LIST), "children"), Output(_part(ids.SELECTED), "data"),
          Output(_part(ids.POLL), "disabled"),
          Input(_part(ids.POLL), "n_intervals"), Input(_part(ids.FILTER), "data"),
          Input(_part(ids.CHANGED), "data"), Input(_part(ids.SELECTED), "data"))
def refresh_list(_tick, job_filter, changed, selected):
    services = current_services()
    services.check_jobs()  # a job whose worker died shows as failed, not running
    scope = ctx.outputs_list[0]["id"]["scope"]
    if ctx.triggered_id and ctx.triggered_id["type"] == ids.CHANGED:
        selected = (changed or {}).get("select", selected)
    with read_session() as session:
        jobs = _listed(session, job_filter or {})
        names = dict(dataset_names(session))
        listed = [job.id for job in jobs]
        selected = selected if selected in listed else (listed[0] if listed else None)
        rows = [_row(job, scope, job.id == selected, names) for job in jobs]
        polling = any(job.status in ACTIVE for job in jobs)
    if (notice := services.worker_notice()) is not None:
        rows.insert(0, dbc.Alert(notice, color="warning", className="py-1 px-2 small mb-1",
                                 id={"type": ids.WORKER_NOTICE, "scope": scope}))
    return rows, selected, not polling


@callback(Output(_part(ids.SELECTED), "data", allow_duplicate=True),
          Input({"type": ids.ROW, "scope": MATCH, "job": ALL}, "n_clicks"),
          prevent_initial_call=True)
def select_job(_clicks):
    # Rows are re-drawn at every poll; only a real click carries a count.
    if not ctx.triggered_id or not ctx.triggered[0]["value"]:
        raise PreventUpdate
    return ctx.triggered_id["job"]


def _params_table(params: dict):
    return dbc.Table([html.Tbody([html.Tr([html.Td(name, className="text-muted"),
                                           html.Td(str(value))])
                                  for name, value in sorted(params.items())])],
                     size="sm", borderless=True, className="small mb-1")


@callback(Output(_part(ids.DETAIL), "children"), Input(_part(ids.SELECTED), "data"),
          Input(_part(ids.POLL), "n_intervals"))
def show_detail(job_id, _tick):
    if job_id is None:
        return html.Div("No jobs yet.", className="text-muted small")
    with read_session() as session:
        job = find_job(session, job_id)
        if job is None:
            return None
        lines = log_tail(job)
        href, page_name = results_link(job)
        return html.Div([
            html.Div([html.Span(f"Job #{job.id} · {job.kind} · {job.status}",
                                className="fw-semibold me-2"),
                      html.Span(f"{dataset_text(job, dict(dataset_names(session)))} · "
                                f"by {job.owner} · "
                                f"created {as_utc(job.created_at):%Y-%m-%d %H:%M} UTC · "
                                f"{_ran(job)} · ", className="small text-muted"),
                      html.A(f"results: {page_name}", href=href, className="small")]),
            dbc.Alert(job.error, color="danger", className="small py-2 my-2")
            if job.error else None,
            html.Details([html.Summary("Parameters", className="small"),
                          _params_table(job.params)]),
            html.Details([html.Summary("Log (last lines)", className="small"),
                          html.Pre("\n".join(lines) or "(empty)", className="job-log small")],
                         open=job.status == "running"),
        ])


def size_text(size: float) -> str:
    """A byte count for people: '512 bytes', '3.4 MB'."""
    if size < 1000:
        return f"{size:.0f} bytes"
    for unit in ("kB", "MB", "GB", "TB"):
        size /= 1000
        if size < 1000 or unit == "TB":
            return f"{size:.1f} {unit}"


def deletion_loss(session, job: Job) -> list:
    """What deleting ``job`` loses, in a few sentences."""
    files, size = job_store.artifact_contents(job)
    folder = (f"its artifact folder: {files:,} files, {size_text(size)}" if files else
              "its artifact folder (empty)")
    names = dict(dataset_names(session))
    lost = [html.P([html.Strong(f"Job #{job.id}"),
                    f" ({job.kind}, {job.status}, {dataset_text(job, names)}, by {job.owner})."
                    f" This deletes its parameters, metrics and log, and {folder}."])]
    if job.kind.endswith("_train") and job.status == "succeeded":
        lost.append(html.P("The trained model goes with it: it can no longer be applied to "
                           "data or fine-tuned."))
    built_on = job_store.jobs_built_on(session, job)
    if built_on:
        numbers = ", ".join(f"#{other.id}" for other in built_on)
        lost.append(html.P(f"Made from it: job{'s' if len(built_on) > 1 else ''} {numbers}; "
                           "they keep their own results."))
    lost.append(html.P("This cannot be undone. Its id is never given to another job.",
                       className="text-muted small mb-0"))
    return lost


@callback(Output(_part(ids.CONFIRM_MODAL), "is_open"),
          Output(_part(ids.CONFIRM_TEXT), "children"), Output(_part(ids.CONFIRM_JOB), "data"),
          Output(_part(ids.CONFIRM_DELETE), "disabled"),
          Input(_part(ids.DELETE), "n_clicks"), Input(_part(ids.CONFIRM_KEEP), "n_clicks"),
          Input(_part(ids.CONFIRM_DELETE), "n_clicks"), State(_part(ids.SELECTED), "data"),
          prevent_initial_call=True)
def confirm_delete(_delete, _keep, _confirm, job_id):
    """Delete asks first, saying what will be lost; Keep (or Esc) and Delete close it."""
    if ctx.triggered_id["type"] != ids.DELETE:
        return False, no_update, no_update, no_update
    with read_session() as session:
        job = find_job(session, job_id)
        if job is None:
            raise PreventUpdate
        if job.status == "running":
            return (True, html.P(f"Job #{job.id} is running: cancel it first, then delete "
                                 "it."), None, True)
        return True, deletion_loss(session, job), job.id, False


@callback(Output(_part(ids.FEEDBACK), "children"),
          Output(_part(ids.CHANGED), "data", allow_duplicate=True),
          Input(_part(ids.CANCEL), "n_clicks"), Input(_part(ids.CONFIRM_DELETE), "n_clicks"),
          State(_part(ids.SELECTED), "data"), State(_part(ids.CONFIRM_JOB), "data"),
          State(_part(ids.CHANGED), "data"), prevent_initial_call=True)
@on_refusal(error_alert, no_update)
def cancel_or_delete(_cancel, _delete, selected_id, confirmed_id, changed):
    """Cancel the selected job, or delete the job the confirmation dialog named."""
    cancelling = ctx.triggered_id["type"] == ids.CANCEL
    job_id = selected_id if cancelling else confirmed_id
    if job_id is None:
        raise PreventUpdate
    with write_session() as session:
        check_may_change_job(session, job_id)
        if cancelling:
            job = cancel_job(current_services().celery(), session, job_id)
            message = (f"Job #{job_id} cancelled." if job.status == "cancelled" else
                       f"Job #{job_id} stops at its next batch.")
        else:
            job_store.delete_job(session, job_id)
            message = f"Job #{job_id} and its files deleted."
    return (dbc.Alert(message, color="info", dismissable=True, duration=4000, className="py-2"),
            {"n": (changed or {}).get("n", 0) + 1})
