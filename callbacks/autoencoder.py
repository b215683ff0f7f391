"""Behaviour of the autoencoder page: live architecture, launching jobs, loss and results."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import ALL, Input, Output, State, callback, html, no_update

from callbacks.common import read_session
from callbacks.ids import Autoencoder as ids
from callbacks.ids import JobsPanel
from callbacks.job_launch import register_model_page
from db.lookups import find_job, training_run
from errors import DomainError
from ml.kinds.autoencoder import check_train_params, spec_of
from ml.autoencoder_spec import layer_table

if TYPE_CHECKING:
    from db.models import Job

FIELDS = {"type": ids.FIELD, "index": ALL}
FIELD_ERRORS = {"type": ids.FIELD_ERROR, "index": ALL}
KIND_COLORS = {"conv": "#0072b2", "downsample": "#56b4e9", "linear": "#d55e00",
               "flatten": "#999999", "unflatten": "#999999", "upsample": "#009e73",
               "sigmoid": "#cc79a7"}
PANEL_SELECTED = JobsPanel.id(JobsPanel.SELECTED, ids.SCOPE)
PANEL_POLL = JobsPanel.id(JobsPanel.POLL, ids.SCOPE)


def form_params(values: list, field_ids: list[dict]) -> dict[str, Any]:
    """The job parameters the form describes (image_rows/image_cols form image_size)."""
    form = {field_id["index"]: value for field_id, value in zip(field_ids, values)}
    params = {name: value for name, value in form.items()
              if name not in ("image_rows", "image_cols")}
    params["image_size"] = [form.get("image_rows"), form.get("image_cols")]
    return params


def field_errors(error: DomainError | None, field_ids: list[dict]) -> list[str]:
    """The refusal's message under the field it names (both image sides for image_size)."""
    name = (getattr(error, "field", "") or "").removeprefix("params.")
    owners = {"image_size": ("image_rows", "image_cols")}.get(name, (name,))
    return [str(error) if error is not None and field_id["index"] in owners else ""
            for field_id in field_ids]


def architecture_figure(table: list[dict]) -> go.Figure:
    """Data Clinic's diagram: one bar per block, height ~ log2 of the spatial size (or of
    the vector length), width ~ log2 of the channels, coloured by kind."""
    figure = go.Figure()
    for position, row in enumerate(table):
        shape = row["output_shape"]
        height = math.log2(shape[1] + 1) if len(shape) == 3 else math.log2(shape[0] + 1) / 2
        width = 0.25 + 0.08 * math.log2(shape[0] + 1) if len(shape) == 3 else 0.2
        text = "×".join(str(side) for side in shape)
        figure.add_bar(x=[position], y=[height], base=[-height / 2], width=[min(width, 0.95)],
                       marker_color=KIND_COLORS[row["kind"]], name=row["kind"],
                       text=[text], textposition="outside", textangle=-90,
                       textfont=dict(size=11),
                       hovertext=[f"{row['name']}<br>{row['kind']} → {text}<br>"
                                  f"{row['parameters']:,} parameters"],
                       hoverinfo="text", showlegend=False)
    figure.update_layout(margin=dict(l=10, r=10, t=10, b=10), barmode="overlay",
                         plot_bgcolor="white", uniformtext_minsize=8,
                         xaxis=dict(visible=False), yaxis=dict(visible=False))
    return figure


def _architecture_summary(table: list[dict], params: dict) -> str:
    spec = spec_of(params)
    channels, rows, cols = spec.bottleneck
    total = sum(row["parameters"] for row in table)
    return (f"{total:,} parameters · bottleneck {channels}×{rows}×{cols} = "
            f"{channels * rows * cols:,} values → latent {spec.latent_dim}")


@callback(Output(ids.ARCHITECTURE, "figure"), Output(ids.ARCHITECTURE_SUMMARY, "children"),
          Output(FIELD_ERRORS, "children"), Input(FIELDS, "value"), State(FIELDS, "id"))
def show_architecture(values, field_ids):
    params = form_params(values, field_ids)
    try:
        params = check_train_params(params)
    except DomainError as error:
        return no_update, "Fix the marked field to see the network.", field_errors(error,
                                                                                   field_ids)
    table = layer_table(spec_of(params))
    return (architecture_figure(table), _architecture_summary(table, params),
            field_errors(None, field_ids))


register_model_page(ids, "autoencoder_train", "autoencoder_infer", form_params, field_errors)


def loss_figure(job: Job | None) -> go.Figure:
    figure = go.Figure()
    rows = job.metrics if job is not None else []
    epochs = [row["epoch"] for row in rows if "epoch" in row]
    for name, label in (("train_loss", "training"), ("val_loss", "validation")):
        values = [row.get(name) for row in rows if "epoch" in row]
        if any(value is not None for value in values):
            figure.add_scatter(x=epochs, y=values, mode="lines+markers", name=label)
    title = f"job #{job.id} · {job.status}" if job is not None else "select a training job"
    figure.update_layout(margin=dict(l=50, r=10, t=35, b=40), title=dict(text=title, x=0.01),
                         xaxis_title="epoch", yaxis_title="loss", plot_bgcolor="white",
                         legend=dict(orientation="h", y=1.1, x=1, xanchor="right"))
    figure.update_xaxes(gridcolor="#eee", rangemode="tozero")
    figure.update_yaxes(gridcolor="#eee")
    return figure


def reconstruction_grid(job: Job | None):
    pairs = (job.result or {}).get("reconstructions", []) if job is not None else []
    if not pairs:
        return html.Div("A finished training or inference job shows its reconstructions here.",
                        className="text-muted small")

    def image(name: str, title: str):
        return html.Img(src=f"/jobs/{job.id}/files/{name}", title=title,
                        className="reconstruction")

    return html.Div([
        html.Figure([html.Div([image(pair["original"], "original (model input)"),
                               image(pair["reconstruction"], "reconstruction")],
                              className="d-flex gap-1"),
                     html.Figcaption(f"item {pair['item_id']} · error {pair['error']:.2g}",
                                     className="small text-muted")],
                    className="reconstruction-pair")
        for pair in pairs], className="d-flex flex-wrap gap-3")


def collapse_note(job: Job | None):
    """The verdict of the job's collapse check: a warning that says what to do when the
    reconstructions are nearly all the same, else the share of the variance they explain."""
    check = (job.result or {}).get("collapse") if job is not None else None
    if not check:
        return None
    if check["collapsed"]:
        return dbc.Alert([html.I(className="bi bi-exclamation-triangle-fill me-2"),
                          check["reason"]], color="warning", className="py-2 small")
    return html.Div(check["reason"], className="text-muted small mb-2")


@callback(Output(ids.LOSS, "figure"), Output(ids.INFER, "disabled"),
          Output(ids.RECONSTRUCTIONS, "children"), Output(ids.COLLAPSE, "children"),
          Input(PANEL_SELECTED, "data"), Input(PANEL_POLL, "n_intervals"))
def show_selected_job(job_id, _tick):
    with read_session() as session:
        job = find_job(session, job_id)
        # a contrastive encoder's training has a loss per epoch too
        trained = job if job is not None and job.kind == "contrastive_features" else \
            training_run(session, job, "autoencoder_train", "autoencoder_infer")
        can_infer = job is not None and job.kind == "autoencoder_train" and \
            job.status == "succeeded"
        return (loss_figure(trained), not can_infer, reconstruction_grid(job),
                collapse_note(job))
