"""The labeling page: a keyboard-first gallery, label classes, progress, history, export."""
import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from callbacks.ids import Explorer
from callbacks.ids import Label as ids
from data.thumbnails import colormap_names
from ml.projection_results import explorer_order
from pages._label_guided import efficiency_panel, guided_controls, guided_stores
from pages._label_viewer import viewer_modal

dash.register_page(__name__, path="/label", title="Label · beamlabel", name="Label", order=1)

PAGE_SIZES = (12, 24, 48, 96, 200)
# How often the page asks whether the data set gained items (a count and a maximum, both
# index look-ups); an arrival shows within about this long.
ARRIVALS_POLL_MS = 1000
# The arrivals graph reads up to an hour of arrivals (0.2 s at 20 a second): less often.
ARRIVALS_PLOT_MS = 10_000
THUMB_SIZES = (64, 96, 128, 192, 256)
SHORTCUTS = (
    ("1 … 9", "label the selection with the class of that hotkey"),
    ("u", "unlabel the selection"),
    ("click / shift-click / ctrl-click", "select one / a range / toggle one"),
    ("a", "select every tile of the page"),
    ("Esc", "clear the selection"),
    ("→ or PageDown", "next page"),
    ("← or PageUp", "previous page"),
    ("z or ctrl+z", "undo your last labeling event"),
    ("y", "suggestions mode: accept the suggestions shown (correct the odd ones first)"),
    ("Enter or double-click", "open the selected image at full resolution"),
    ("?", "show this help"),
)
VIEWER_SHORTCUTS = (
    ("← / →", "previous / next image of the page"),
    ("1 … 9, u, z", "label, unlabel the image shown; undo"),
    ("wheel / drag", "zoom / pan (double-click: whole image); the pointer reads raw values"),
    ("Esc", "back to the gallery"),
)
SAVING_NOTE = ("Keys show their label at once; the labels are saved in the background, in the "
               "order typed (the toolbar says \"saving…\" then \"saved\"). A label the server "
               "refuses is taken back on its tile, with the reason.")


def _shortcut_rows(shortcuts):
    return html.Tbody([html.Tr([html.Td(html.Kbd(keys)), html.Td(what)])
                       for keys, what in shortcuts])


def _icon_button(icon, button_id, title):
    return dbc.Button(html.I(className=f"bi bi-{icon}"), id=button_id, color="secondary",
                      outline=True, title=title)


def _pager():
    return dbc.InputGroup([
        _icon_button("chevron-double-left", ids.FIRST, "first page"),
        _icon_button("chevron-left", ids.PREVIOUS, "previous page (←)"),
        dbc.Input(id=ids.PAGE, type="number", min=1, value=1, debounce=True,
                  style={"maxWidth": "5.5rem"}),
        dbc.InputGroupText(id=ids.PAGE_INFO),
        _icon_button("chevron-right", ids.NEXT, "next page (→)"),
        _icon_button("chevron-double-right", ids.LAST, "last page"),
    ], size="sm", style={"width": "auto"})


def _select(label, select_id, options, value):
    return dbc.InputGroup([dbc.InputGroupText(label),
                           dbc.Select(id=select_id, value=value, options=options)],
                          size="sm", style={"width": "auto"})


def _percentile_box(box_id, value, placeholder):
    return dbc.Input(id=box_id, type="number", min=0, max=100, step="any", value=value,
                     debounce=True, size="sm", placeholder=placeholder,
                     style={"maxWidth": "5.5rem"})


def _view_menu():
    """The secondary controls, behind the toolbar's View button: tile size, page size,
    display transform and colours, and whether a finished page turns by itself."""
    percentiles = html.Div([
        html.Small("clip to percentiles", className="text-muted"),
        dbc.InputGroup([_percentile_box(ids.PERCENTILE_LOW, 1, "low"),
                        dbc.InputGroupText("–"),
                        _percentile_box(ids.PERCENTILE_HIGH, 99, "high")],
                       size="sm", className="mb-1"),
        dcc.RangeSlider(id=ids.PERCENTILES, min=0, max=100, step=0.1, value=[1, 99],
                        marks={0: "0", 50: "50", 100: "100"}, allow_direct_input=False),
        html.Div(id=ids.PERCENTILE_NOTE, className="small text-danger"),
    ], className="mb-2")
    body = [
        _select("tile size", ids.THUMB_SIZE,
                [{"label": f"{n} px", "value": str(n)} for n in THUMB_SIZES], "128"),
        _select("per page", ids.PAGE_SIZE,
                [{"label": str(n), "value": str(n)} for n in PAGE_SIZES], "48"),
        dbc.Checkbox(id=ids.LOG, label="log scale", value=True),
        percentiles,
        _select("colours", ids.COLORMAP,
                [{"label": name, "value": name} for name in colormap_names()], "gray"),
        dbc.Checkbox(id=ids.ADVANCE, label="next page when this one is done", value=True),
    ]
    return dbc.Popover(dbc.PopoverBody(body, className="label-view-menu"),
                       id=ids.VIEW_POPOVER, target=ids.VIEW_BUTTON, trigger="legacy",
                       placement="bottom-end", hide_arrow=True)


def _toolbar():
    """One row above the gallery: pager, where the page is, sort, filter, View, help, the
    save state of the labels just given, and the way to the explorer."""
    return html.Div([
        _pager(),
        html.Div(id=ids.SUMMARY, className="label-summary text-muted small"),
        _select("sort", ids.SORT, [
            {"label": "file name", "value": "name"}, {"label": "newest first", "value": "newest"},
            {"label": "label", "value": "label"},
            {"label": "unlabeled first", "value": "unlabeled_first"}], "name"),
        html.Div(dbc.Checkbox(id=ids.FOLLOW, label="follow", value=True),
                 id=ids.FOLLOW_BOX, title="page 1 shows new items as they arrive",
                 style={"display": "none"}),
        _select("show", ids.FILTER, [{"label": "all", "value": "all"},
                                     {"label": "unlabeled", "value": "unlabeled"}], "all"),
        dbc.Button([html.I(className="bi bi-sliders me-1"), "View"], id=ids.VIEW_BUTTON,
                   color="secondary", outline=True, size="sm",
                   title="tile size, page size, log scale, percentiles, colours"),
        _view_menu(),
        dbc.Button(html.I(className="bi bi-keyboard"), id=ids.HELP_BUTTON, color="link",
                   size="sm", title="keyboard shortcuts (?)"),
        html.Span(id=ids.SYNC, className="label-sync small text-muted"),
        html.A([html.I(className="bi bi-diagram-3 me-1"), "explorer"],
               id=Explorer.FROM_GALLERY, href="/explorer", className="small ms-auto text-nowrap",
               title="the selected tiles (or this page) in the latent space explorer"),
    ], className="label-toolbar")


def _arrivals_panel():
    """A live data set's arrivals per minute over the last hour (callbacks/label_follow.py)."""
    graph = dcc.Graph(id=ids.ARRIVALS_GRAPH, config={"displayModeBar": False},
                      style={"height": "180px"})
    return html.Div([html.H6("Arrivals"), graph,
                     html.Div(id=ids.ARRIVALS_NOTE, className="small text-muted")],
                    id=ids.ARRIVALS_PANEL, className="mb-3", style={"display": "none"})


def _side_panel():
    add_class = dbc.InputGroup([
        dbc.Input(id=ids.NEW_NAME, placeholder="new class", debounce=False),
        dbc.Input(id=ids.NEW_COLOR, type="color", value="#e69f00", style={"maxWidth": "3rem"}),
        dbc.Button("Add", id=ids.ADD, color="primary"),
    ], size="sm", className="mb-2")
    return html.Div([
        dcc.Dropdown(id=ids.DATASET, placeholder="Choose a data set", clearable=False,
                     className="mb-2"),
        dbc.InputGroup([dbc.InputGroupText(html.I(className="bi bi-person")),
                        dbc.Input(id=ids.TAGGER, placeholder="your name", debounce=True)],
                       size="sm", className="mb-3"),
        html.H6("Classes"),
        html.Div(id=ids.CLASSES, className="mb-2"),
        add_class,
        dbc.ButtonGroup([
            dbc.Button([html.I(className="bi bi-eraser me-1"), "Unlabel (u)"], id=ids.UNLABEL,
                       color="secondary", outline=True, size="sm"),
            dbc.Button([html.I(className="bi bi-arrow-counterclockwise me-1"), "Undo (z)"],
                       id=ids.UNDO, color="secondary", outline=True, size="sm"),
        ], className="mb-3"),
        html.H6("Progress"),
        html.Div(id=ids.PROGRESS, className="mb-3"),
        *efficiency_panel(),
        _arrivals_panel(),
        html.H6("History"),
        html.Div(id=ids.HISTORY, className="history-list mb-3"),
        html.H6("Export and import"),
        html.Div(id=ids.EXPORT_LINKS, className="mb-2"),
        dcc.Upload(id=ids.IMPORT, children=html.Div(["Import labels: drop a CSV (uri,label) or ",
                                                     html.A("choose a file")]),
                   className="upload-box", accept=".csv,text/csv"),
        html.Div(id=ids.IMPORT_REPORT, className="small mt-2"),
    ])


def _modals():
    return [
        dbc.Modal([dbc.ModalHeader(dbc.ModalTitle("Keyboard shortcuts")),
                   dbc.ModalBody([dbc.Table(_shortcut_rows(SHORTCUTS), size="sm"),
                                  html.H6("In the full-resolution viewer"),
                                  dbc.Table(_shortcut_rows(VIEWER_SHORTCUTS), size="sm"),
                                  html.P(SAVING_NOTE, className="small text-muted mb-0")])],
                  id=ids.HELP, is_open=False),
        *viewer_modal(),
        dbc.Modal([
            dbc.ModalHeader(dbc.ModalTitle("Edit class")),
            dbc.ModalBody([
                dcc.Store(id=ids.EDIT_ID),
                dbc.Label("Name"), dbc.Input(id=ids.EDIT_NAME),
                dbc.Label("Colour", className="mt-2"), dbc.Input(id=ids.EDIT_COLOR, type="color"),
                dbc.Label("Hotkey (1-9, empty for none)", className="mt-2"),
                dbc.Input(id=ids.EDIT_HOTKEY, maxLength=1),
                html.Div(id=ids.EDIT_ERROR, className="text-danger small mt-2",
                         **{"aria-live": "polite"}),
            ]),
            dbc.ModalFooter(dbc.Button("Save", id=ids.EDIT_SAVE, color="primary")),
        ], id=ids.EDIT_MODAL, is_open=False),
        dbc.Modal([
            dbc.ModalHeader(dbc.ModalTitle("Delete class?")),
            dbc.ModalBody([dcc.Store(id=ids.CONFIRM_ID), html.Div(id=ids.CONFIRM_TEXT)]),
            dbc.ModalFooter(dbc.Button("Delete and unlabel its items", id=ids.CONFIRM_DELETE,
                                       color="danger")),
        ], id=ids.CONFIRM_MODAL, is_open=False),
    ]


def layout(dataset=None, projection=None, selection=None, cluster=None, **_query):
    stores = [
        dcc.Store(id=ids.PAGE_ITEMS, data=[]),
        dcc.Store(id=ids.PAGE_SUGGESTIONS, data={}),
        dcc.Store(id=ids.SELECTION, data=[]),
        dcc.Store(id=ids.KEY),
        dcc.Store(id=ids.WRITTEN),
        dcc.Store(id=ids.PAGE_STATE),
        dcc.Store(id=ids.OPEN),
        dcc.Store(id=ids.REVISION, data=0),
        dcc.Store(id=ids.AS_OF, data=None),
        dcc.Store(id=ids.DATASET_REQUESTED, data=int(dataset) if dataset else None),
        dcc.Store(id=ids.TAGGER_SAVED, storage_type="local"),
        dcc.Store(id=ids.ARRIVALS_MARK),
        dcc.Store(id=ids.FOLLOW_REFRESH, data=0),
        dcc.Interval(id=ids.ARRIVALS_POLL, interval=ARRIVALS_POLL_MS, disabled=True),
        dcc.Interval(id=ids.ARRIVALS_PLOT_POLL, interval=ARRIVALS_PLOT_MS, disabled=True),
        *guided_stores(explorer_order(dataset, projection, selection, cluster)),
    ]
    gallery = html.Div([
        guided_controls(),
        _toolbar(),
        html.Div(id=ids.AS_OF_BANNER),
        html.Div(id=ids.GRID, className="thumb-grid", tabIndex="0"),
    ])
    # alerts float over the page, so that a message never moves the tiles
    toast = html.Div(id=ids.FEEDBACK, className="label-toast")
    return html.Div([*stores, *_modals(), toast,
                     dbc.Row([dbc.Col(_side_panel(), lg=3, className="side-panel"),
                              dbc.Col(gallery, lg=9)])])
