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
from db.lookups import find_item, find_job, training_run
from errors import DomainError
from ml.kinds.autoencoder import check_train_params, spec_of
from ml.autoencoder_spec import AutoencoderSpec, check_spec, layer_table

if TYPE_CHECKING:
    from db.models import Job

FIELDS = {"type": ids.FIELD, "index": ALL}
FIELD_ERRORS = {"type": ids.FIELD_ERROR, "index": ALL}
PANEL_SELECTED = JobsPanel.id(JobsPanel.SELECTED, ids.SCOPE)
PANEL_POLL = JobsPanel.id(JobsPanel.POLL, ids.SCOPE)


def form_params(values: list, field_ids: list[dict]) -> dict[str, Any]:
    """The job parameters the form describes (image_rows/image_cols form image_size)."""
    form = {field_id["index"]: value for field_id, value in zip(field_ids, values)}
    params = {name: value for name, value in form.items()
              if name not in ("image_rows", "image_cols")}
    params["image_size"] = [form.get("image_rows"), form.get("image_cols")]
    return params


SIDES = {"image_rows": "height", "image_cols": "width"}


def _side_fits(side, form: dict) -> bool:
    """Whether the network of the form can take an image side of ``side`` pixels."""
    if not isinstance(side, int) or isinstance(side, bool):
        return False
    try:
        check_spec(AutoencoderSpec((side, side), form["base_channels"], form["latent_dim"],
                                   form["depth"]))
    except (ValueError, TypeError, KeyError):
        return False
    return True


def _nearest_fit(side, scale: int) -> int:
    return max(2 * scale, round((side or 0) / scale) * scale)


def image_size_message(form: dict, faulty: list[str]) -> str:
    """One short sentence on the image sides that do not fit the depth, and what to try."""
    scale = 2 ** form["depth"]
    named = " and ".join(f"{SIDES[name]} {form.get(name) or '(empty)'}" for name in faulty)
    example = " × ".join(str(form[name]) if name not in faulty else
                         str(_nearest_fit(form.get(name), scale)) for name in SIDES)
    verb = "is not a multiple" if len(faulty) == 1 else "are not multiples"
    return (f"{named.capitalize()} {verb} of 2^depth = {scale} (at least {2 * scale} px): "
            f"try {example}, or a lower depth.")


def field_errors(error: DomainError | None, field_ids: list[dict], values: list) -> list[str]:
    """The refusal's message under the field it names; an image size that does not fit
    is said once, under the last side at fault (both sides are marked invalid)."""
    name = (getattr(error, "field", "") or "").removeprefix("params.")
    if name == "image_size":
        form = {field_id["index"]: value for field_id, value in zip(field_ids, values)}
        faulty = [side for side in SIDES if not _side_fits(form.get(side), form)]
        if faulty:
            message = image_size_message(form, faulty)
            return [message if field_id["index"] == faulty[-1] else ""
                    for field_id in field_ids]
        name = "image_cols"
    return [str(error) if error is not None and field_id["index"] == name else ""
            for field_id in field_ids]


def faulty_sides(error: DomainError | None, form: dict) -> list[bool]:
    """Whether each image-side field is at fault (its input is then drawn invalid)."""
    if getattr(error, "field", "") != "params.image_size":
        return [False] * len(SIDES)
    return [not _side_fits(form.get(side), form) for side in SIDES]


# Colours of the diagram's blocks, by kind, with what they mean for the legend.
KIND_STYLES = {
    "conv": ("#0072b2", "3×3 convolution"),
    "downsample": ("#56b4e9", "strided convolution: halves height and width"),
    "flatten": ("#999999", "flatten / unflatten"),
    "unflatten": ("#999999", "flatten / unflatten"),
    "linear": ("#d55e00", "fully connected: to and from the latent vector"),
    "upsample": ("#009e73", "transposed convolution: doubles height and width"),
    "sigmoid": ("#cc79a7", "sigmoid: the output image"),
}


def shape_text(shape) -> str:
    return "×".join(str(side) for side in shape)


def architecture_figure(table: list[dict]) -> go.Figure:
    """Data Clinic's diagram: one bar per block, height ~ log2 of the spatial size (or of
    the vector length), width ~ log2 of the channels, coloured by kind (the legend says
    which), each block's output shape written under it."""
    figure = go.Figure()
    in_legend = set()
    for position, row in enumerate(table):
        shape = row["output_shape"]
        height = math.log2(shape[1] + 1) if len(shape) == 3 else math.log2(shape[0] + 1) / 2
        width = 0.25 + 0.08 * math.log2(shape[0] + 1) if len(shape) == 3 else 0.2
        color, meaning = KIND_STYLES[row["kind"]]
        figure.add_bar(x=[position], y=[height], base=[-height / 2], width=[min(width, 0.95)],
                       marker_color=color, name=meaning, legendgroup=meaning,
                       showlegend=meaning not in in_legend,
                       hovertext=[f"{row['name']}<br>{meaning}<br>output {shape_text(shape)}"
                                  f"<br>{row['parameters']:,} parameters"],
                       hoverinfo="text")
        in_legend.add(meaning)
    figure.update_layout(
        margin=dict(l=10, r=10, t=10, b=10), barmode="overlay", plot_bgcolor="white",
        legend=dict(orientation="h", x=0, y=1.02, yanchor="bottom", font=dict(size=11)),
        xaxis=dict(tickmode="array", tickvals=list(range(len(table))),
                   ticktext=[shape_text(row["output_shape"]) for row in table],
                   tickangle=-45, tickfont=dict(size=10), automargin=True, showgrid=False,
                   zeroline=False, title=dict(
                       text="output of each block: channels×height×width, or vector length",
                       font=dict(size=11))),
        yaxis=dict(visible=False))
    return figure


def _architecture_summary(table: list[dict], params: dict) -> str:
    spec = spec_of(params)
    channels, rows, cols = spec.bottleneck
    total = sum(row["parameters"] for row in table)
    return (f"{total:,} parameters · bottleneck {channels}×{rows}×{cols} = "
            f"{channels * rows * cols:,} values → latent {spec.latent_dim}")


@callback(Output(ids.ARCHITECTURE, "figure"), Output(ids.ARCHITECTURE_SUMMARY, "children"),
          Output(FIELD_ERRORS, "children"), Output(ids.TRAIN, "disabled"),
          *[Output({"type": ids.FIELD, "index": side}, "invalid") for side in SIDES],
          Input(FIELDS, "value"), State(FIELDS, "id"))
def show_architecture(values, field_ids):
    """The diagram follows the form; while the form is invalid, the field at fault says
    why and Train is off."""
    params = form_params(values, field_ids)
    try:
        params = check_train_params(params)
    except DomainError as error:
        form = {field_id["index"]: value for field_id, value in zip(field_ids, values)}
        return (no_update, "Fix the marked field to see the network and to train it.",
                field_errors(error, field_ids, values), True, *faulty_sides(error, form))
    table = layer_table(spec_of(params))
    return (architecture_figure(table), _architecture_summary(table, params),
            field_errors(None, field_ids, values), False, *([False] * len(SIDES)))


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


def _pair_figure(job: Job, pair: dict, names: dict[int, str]):
    def image(name: str, title: str):
        return html.Img(src=f"/jobs/{job.id}/files/{name}", title=title,
                        className="reconstruction")

    name = names.get(pair["item_id"], f"item {pair['item_id']}")
    return html.Figure([html.Div([image(pair["original"], "original (model input)"),
                                  image(pair["reconstruction"], "reconstruction")],
                                 className="d-flex gap-1"),
                        html.Figcaption(f"{name} · error {pair['error']:.2g}",
                                        title=name, className="small text-muted text-truncate",
                                        style={"maxWidth": "196px"})],
                       className="reconstruction-pair")


def reconstruction_groups(job: Job) -> list[tuple[str, list[dict]]]:
    """(heading, pairs) of the job's reconstructions: an inference's best and worst
    reconstructed images (its pairs come sorted by error), a training run's sample."""
    pairs = (job.result or {}).get("reconstructions", [])
    if job.kind != "autoencoder_infer":
        return [(f"A sample of {len(pairs)} training images, spread over the data set", pairs)]
    half = (len(pairs) + 1) // 2
    images = job.result.get("items", len(pairs))
    return [(f"Best reconstructed: the {half} lowest errors of {images:,} images "
             "(what the model learnt well)", pairs[:half]),
            (f"Worst reconstructed: the {len(pairs) - half} highest errors "
             "(unusual or broken images are often here)", pairs[half:])]


def reconstruction_grid(job: Job | None, names: dict[int, str] | None = None):
    if job is None or not (job.result or {}).get("reconstructions"):
        return html.Div("A finished training or inference job shows its reconstructions here.",
                        className="text-muted small")
    return html.Div([
        html.Div([html.Div(heading, className="small fw-semibold mb-1 reconstruction-heading"),
                  html.Div([_pair_figure(job, pair, names or {}) for pair in pairs],
                           className="d-flex flex-wrap gap-3 mb-2")])
        for heading, pairs in reconstruction_groups(job) if pairs])


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
        pairs = (job.result or {}).get("reconstructions", []) if job is not None else []
        items = (find_item(session, pair["item_id"]) for pair in pairs)
        names = {item.id: item.uri for item in items if item is not None}
        return (loss_figure(trained), not can_infer, reconstruction_grid(job, names),
                collapse_note(job))
