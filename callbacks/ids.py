"""Component ids, one class per page, shared by pages/ (layout) and callbacks/ (behaviour)."""


class Shell:
    URL = "shell-url"


class Datasets:
    TABLE = "datasets-table"
    REFRESH = "datasets-refresh"
    NAME = "datasets-name"
    SOURCE_TABS = "datasets-source-tabs"
    FOLDER = "datasets-folder"
    FOLDER_LIST = "datasets-folder-list"
    FOLDER_ENTRY = "datasets-folder-entry"  # pattern-matching type, index = folder path
    TILED_URI = "datasets-tiled-uri"
    TILED_KEY = "datasets-tiled-key"
    REGISTER = "datasets-register"
    FEEDBACK = "datasets-feedback"
    DEMO = "datasets-demo"
    DEMO_CARD = "datasets-demo-card"
    OPEN_PAGE = "datasets-open-page"  # location: a page to open (the demo's label page)
    LIVE = "datasets-live"  # pattern-matching type, index = data set id: the Live switch
    REPLAY_SOURCE = "datasets-replay-source"
    REPLAY_RATE = "datasets-replay-rate"
    REPLAY = "datasets-replay"


class Label:
    """The labeling page (gallery, label classes, history, viewer)."""
    DATASET = "label-dataset"
    DATASET_REQUESTED = "label-dataset-requested"  # store: the data set named in the URL
    TAGGER = "label-tagger"
    TAGGER_SAVED = "label-tagger-saved"  # local-storage store: the name last used here
    # gallery and paging
    GRID = "label-grid"
    PAGE = "label-page"
    PAGE_SIZE = "label-page-size"
    THUMB_SIZE = "label-thumb-size"
    FIRST = "label-first"
    PREVIOUS = "label-previous"
    NEXT = "label-next"
    LAST = "label-last"
    PAGE_INFO = "label-page-info"
    SUMMARY = "label-summary"
    PAGE_ITEMS = "label-page-items"  # store: item ids of the page, in display order
    # store: {item id: label id} a suggestion review shows on the page, which accepting gives
    PAGE_SUGGESTIONS = "label-page-suggestions"
    # view controls
    SORT = "label-sort"
    FILTER = "label-filter"
    HIDE_LABELED = "label-hide-labeled"
    LOG = "label-log"
    PERCENTILES = "label-percentiles"
    COLORMAP = "label-colormap"
    ADVANCE = "label-advance"
    VIEW_BUTTON = "label-view-button"  # opens the View popover (the secondary controls)
    VIEW_POPOVER = "label-view-popover"
    PERCENTILE_LOW = "label-percentile-low"  # number boxes, kept in step with PERCENTILES
    PERCENTILE_HIGH = "label-percentile-high"
    PERCENTILE_NOTE = "label-percentile-note"
    TILE = "label-tile"  # pattern-matching type, index = item id
    CAPTION = "label-caption"  # pattern-matching type, index = item id
    # store: what the keyboard script needs of the page shown (classes, prefetch, editable)
    PAGE_STATE = "label-page-state"
    WRITTEN = "label-written"  # store: the server's answer to the action the script queued
    SYNC = "label-sync"  # "saving…" / "saved": the queued actions not yet written
    # selection and actions (the keyboard script writes KEY, SELECTION and OPEN)
    SELECTION = "label-selection"
    KEY = "label-key"
    OPEN = "label-open"
    LABEL_BUTTON = "label-class-button"  # pattern-matching type, index = label id
    UNLABEL = "label-unlabel"
    UNDO = "label-undo"
    FEEDBACK = "label-feedback"
    REVISION = "label-revision"  # store: bumped after every event, re-renders what shows labels
    # label classes
    CLASSES = "label-classes"
    NEW_NAME = "label-new-name"
    NEW_COLOR = "label-new-color"
    ADD = "label-add"
    # under the class list, over the new-class field: why the class was not added
    CLASS_FORM_ERROR = "label-class-form-error"
    CLASS_FORM_REFUSED = "label-class-form-refused"  # store: the name that was refused
    EDIT = "label-edit"  # pattern-matching type, index = label id
    MOVE_UP = "label-move-up"  # pattern-matching type, index = label id
    DELETE = "label-delete"  # pattern-matching type, index = label id
    EDIT_MODAL = "label-edit-modal"
    EDIT_ID = "label-edit-id"
    EDIT_NAME = "label-edit-name"
    EDIT_COLOR = "label-edit-color"
    EDIT_HOTKEY = "label-edit-hotkey"
    EDIT_SAVE = "label-edit-save"
    EDIT_ERROR = "label-edit-error"
    CONFIRM_MODAL = "label-confirm-modal"
    CONFIRM_TEXT = "label-confirm-text"
    CONFIRM_ID = "label-confirm-id"
    CONFIRM_DELETE = "label-confirm-delete"
    # progress, history, export
    PROGRESS = "label-progress"
    HISTORY = "label-history"
    HISTORY_UNDO = "label-history-undo"  # pattern-matching type, index = event id
    HISTORY_VIEW = "label-history-view"  # pattern-matching type, index = event id
    AS_OF = "label-as-of"  # store: event id whose labels are shown, or None for the latest
    AS_OF_BANNER = "label-as-of-banner"
    BACK_TO_LATEST = "label-back-to-latest"
    EXPORT_LINKS = "label-export-links"
    IMPORT = "label-import"
    IMPORT_REPORT = "label-import-report"
    # viewer and help
    VIEWER = "label-viewer"
    VIEWER_BODY = "label-viewer-body"
    # inside the viewer (pages/_label_viewer.py, callbacks/label_viewer.py)
    VIEWER_ITEM = "label-viewer-item"  # store: {"item": id, "order": page's item ids at opening}
    VIEWER_KEY = "label-viewer-key"  # store: a labeling key pressed in it (viewer_keys.js)
    VIEWER_TITLE = "label-viewer-title"
    VIEWER_GRAPH = "label-viewer-graph"
    VIEWER_READOUT = "label-viewer-readout"  # raw value under the pointer (viewer_readout.js)
    VIEWER_FACTS = "label-viewer-facts"
    VIEWER_FEEDBACK = "label-viewer-feedback"
    VIEWER_PREVIOUS = "label-viewer-previous"
    VIEWER_NEXT = "label-viewer-next"
    HELP = "label-help"
    HELP_BUTTON = "label-help-button"
    # guided labeling (callbacks/label_guided.py): modes and their panels
    MODE = "label-mode"  # manual | suggestions | similarity | probability | review
    GUIDED_ORDER = "label-guided-order"  # store: the gallery's order when a mode sets one
    SIMILARITY_PANEL = "label-similarity-panel"
    FEATURE_JOB = "label-feature-job"
    USE_SELECTION = "label-use-selection"
    QUERY = "label-query"  # store: item ids of the similarity query
    QUERY_INFO = "label-query-info"
    MATCH = "label-match"  # any | mean: nearest to any query item or to their mean
    FEATURE_CHECK = "label-feature-check"  # how well the source separates the labels
    UNLABELED_ONLY = "label-unlabeled-only"
    BATCH_LABEL = "label-batch-label"
    BATCH_SCOPE = "label-batch-scope"  # page | top_k | cutoff
    TOP_K = "label-top-k"
    CUTOFF = "label-cutoff"
    BATCH_PREVIEW = "label-batch-preview"
    BATCH_APPLY = "label-batch-apply"
    PROBABILITY_PANEL = "label-probability-panel"
    CLASSIFIER_JOB = "label-classifier-job"
    PROBABILITY_LABEL = "label-probability-label"
    THRESHOLD = "label-threshold"
    OVERWRITE = "label-overwrite"
    PROBABILITY_PREVIEW = "label-probability-preview"
    PROBABILITY_APPLY = "label-probability-apply"
    SHOW_THRESHOLD_ITEMS = "label-show-threshold-items"  # the items a threshold would label
    UNCERTAINTY = "label-uncertainty"  # active-learning order: none or an uncertainty measure
    REVIEW_PANEL = "label-review-panel"
    MIN_CONFIDENCE = "label-min-confidence"
    SHOW_MISTAKES = "label-show-mistakes"
    CHECKPOINT_SIZE = "label-checkpoint-size"
    START_CHECKPOINT = "label-start-checkpoint"
    SCORE_CHECKPOINT = "label-score-checkpoint"
    CHECKPOINT_RESULT = "label-checkpoint-result"
    CORRECT = "label-correct"  # pattern-matching type, index = item id (take the new label)
    CORRECT_ALL = "label-correct-all"
    # suggestion review (callbacks/label_suggestions.py)
    SUGGESTION_PANEL = "label-suggestion-panel"
    SUGGESTION_JOB = "label-suggestion-job"
    SUGGESTION_LABEL = "label-suggestion-label"  # "best" or a label id
    SUGGESTION_INFO = "label-suggestion-info"
    SUGGESTION_ACCEPT = "label-suggestion-accept"
    ACCEPT_KEY = "label-accept"  # store: the keyboard script's "accept the page" (key y)
    # the retrain loop in the suggestion panel (callbacks/label_retrain_loop.py)
    LOOP_ON = "label-loop-on"
    LOOP_EVERY = "label-loop-every"
    LOOP_NOW = "label-loop-now"
    LOOP_STATUS = "label-loop-status"
    LOOP_FEEDBACK = "label-loop-feedback"
    LOOP_POLL = "label-loop-poll"  # interval: on while a job of the loop is queued or running
    LOOP_CHANGED = "label-loop-changed"  # store: bumped when the setting changes or on "now"
    LOOP_STATE = "label-loop-state"  # store: {"enabled", "source_job_id"} of the loop
    LOOP_FOLLOWED = "label-loop-followed"  # store: the loop model the source last moved to
    EFFICIENCY = "label-efficiency"
    # following a live data set (callbacks/label_follow.py)
    FOLLOW = "label-follow"  # checkbox, shown with newest first: page 1 shows arrivals
    FOLLOW_BOX = "label-follow-box"  # wraps FOLLOW, hidden in other orders
    ARRIVALS_POLL = "label-arrivals-poll"  # interval: has the data set gained items?
    ARRIVALS_MARK = "label-arrivals-mark"  # store: item count, newest sort key, feature rows
    FOLLOW_REFRESH = "label-follow-refresh"  # store: bumped when page 1 should show arrivals
    ARRIVALS_PANEL = "label-arrivals-panel"  # shown for a live data set only
    ARRIVALS_GRAPH = "label-arrivals-graph"  # arrivals (and suggested classes) per minute
    ARRIVALS_PLOT_POLL = "label-arrivals-plot-poll"  # interval: redraws the graph
    ARRIVALS_NOTE = "label-arrivals-note"
    SESSION_START = "label-session-start"  # store: when the page was opened (ISO, UTC)


class JobsPanel:
    """The jobs panel shown on every page that runs jobs (pages/_jobs_panel.py).

    Pattern-matching types; every id is {"type": <one of these>, "scope": <page name>}, so
    one set of callbacks (MATCH on scope) serves the panel of every page.
    """
    FILTER = "jobs-filter"  # store: {"dataset_id", "kinds"}; the page writes the data set
    CHANGED = "jobs-changed"  # store: bumped when a job was started, cancelled or deleted
    POLL = "jobs-poll"  # interval, enabled only while a job of the list is queued or running
    LIST = "jobs-list"  # the rows
    ROW = "jobs-row"  # one row: {"type": ROW, "scope": ..., "job": job id}
    WORKER_NOTICE = "jobs-worker-notice"  # what the local worker's watch did, above the rows
    SELECTED = "jobs-selected"  # store: the selected job id (pages read it)
    DETAIL = "jobs-detail"
    CANCEL = "jobs-cancel"
    DELETE = "jobs-delete"
    FEEDBACK = "jobs-feedback"
    RESULTS_LINK = "jobs-results-link"  # in a row: {"type", "scope", "job"}, to its page
    CONFIRM_MODAL = "jobs-confirm-modal"  # "delete this job?", saying what will be lost
    CONFIRM_TEXT = "jobs-confirm-text"
    CONFIRM_JOB = "jobs-confirm-job"  # store: the job the open dialog is about
    CONFIRM_DELETE = "jobs-confirm-delete"
    CONFIRM_KEEP = "jobs-confirm-keep"

    @staticmethod
    def id(part: str, scope: str) -> dict:
        return {"type": part, "scope": scope}


class Autoencoder:
    """The autoencoder page (Data Clinic)."""
    SCOPE = "autoencoder"  # of its jobs panel
    DATASET = "autoencoder-dataset"
    DATASET_REQUESTED = "autoencoder-dataset-requested"  # store: the data set in the URL
    FIELD = "autoencoder-field"  # pattern-matching type, index = parameter name
    FIELD_ERROR = "autoencoder-field-error"  # pattern-matching type, index = parameter name
    ARCHITECTURE = "autoencoder-architecture"
    ARCHITECTURE_SUMMARY = "autoencoder-architecture-summary"
    TRAIN = "autoencoder-train"
    INFER = "autoencoder-infer"
    FEEDBACK = "autoencoder-feedback"
    LOSS = "autoencoder-loss"
    RECONSTRUCTIONS = "autoencoder-reconstructions"
    COLLAPSE = "autoencoder-collapse"  # whether the selected job's model collapsed
    # feature sources: other jobs that make feature vectors without labels
    FEATURE_KIND = "autoencoder-feature-kind"
    FEATURE_GROUP = "autoencoder-feature-group"  # pattern-matching type, index = job kind
    FEATURE_FIELD = "autoencoder-feature-field"  # pattern-matching type, index = kind.param
    FEATURE_FIELD_ERROR = "autoencoder-feature-field-error"  # index = kind.param
    FEATURE_RUN = "autoencoder-feature-run"
    FEATURE_FEEDBACK = "autoencoder-feature-feedback"


class AllJobs:
    SCOPE = "all"
    DATASET = "jobs-page-dataset"
    EVERY_DATASET = "all"  # the data-set filter's value that shows the jobs of all
    KIND = "jobs-page-kind"
    STATUS = "jobs-page-status"


class Explorer:
    """The latent space explorer: projections, clusters, selections and their labels."""
    SCOPE = "explorer"  # of its jobs panel
    DATASET = "explorer-dataset"
    DATASET_REQUESTED = "explorer-dataset-requested"  # store: the data set in the URL
    REQUESTED = "explorer-requested"  # store: dataset, projection and items named in the URL
    FEATURE_JOB = "explorer-feature-job"
    METHOD = "explorer-method"
    COMPONENTS = "explorer-components"
    PROJECTION_GROUP = "explorer-projection-group"  # pattern-matching type, index = method
    PROJECTION_FIELD = "explorer-projection-field"  # pattern-matching, index = method.param
    CLUSTERING = "explorer-clustering"  # none or a clustering method
    CLUSTER_SPACE = "explorer-cluster-space"
    CLUSTER_GROUP = "explorer-cluster-group"  # pattern-matching type, index = method
    CLUSTER_FIELD = "explorer-cluster-field"  # pattern-matching, index = method.param
    IMAGE_FIELD = "explorer-image-field"  # pattern-matching type, index = heat-map param
    RUN = "explorer-run"
    FEEDBACK = "explorer-feedback"
    PENDING = "explorer-pending"  # store: id of the projection job being waited for
    PROJECTION = "explorer-projection"  # dropdown of finished projection jobs
    COLOUR = "explorer-colour"
    GRAPH = "explorer-graph"
    TOOLTIP = "explorer-tooltip"
    PLOTTED = "explorer-plotted"  # store: {projection, traces}: which item each point is
    PLOT_FEEDBACK = "explorer-plot-feedback"  # a refused lasso, box or click shows here
    ARRIVALS_POLL = "explorer-arrivals-poll"  # interval: has the feature job gained rows?
    FEATURE_ROWS = "explorer-feature-rows"  # store: {projection, features}: rows appended
    PLACED_NOTE = "explorer-placed-note"  # how many arrivals are placed, or why none
    POINTS_LIMIT = "explorer-points-limit"  # more points in view are drawn as their density
    SELECTION = "explorer-selection"  # store: {projection, key or cluster, count}
    SUMMARY = "explorer-summary"
    CLUSTER = "explorer-cluster"
    SELECT_CLUSTER = "explorer-select-cluster"
    LABEL = "explorer-label"
    APPLY_LABEL = "explorer-apply-label"
    LABEL_FEEDBACK = "explorer-label-feedback"
    REVISION = "explorer-revision"  # store: bumped after labeling, recolours the points
    GALLERY_LINK = "explorer-gallery-link"
    STATISTIC = "explorer-statistic"  # mean | std
    HEATMAP = "explorer-heatmap"
    THUMBS = "explorer-thumbs"
    FROM_GALLERY = "explorer-from-gallery"  # link on the label page: its items in the explorer


class Classifier:
    """The classifier page (MLCoach)."""
    SCOPE = "classifier"  # of its jobs panel
    DATASET = "classifier-dataset"
    DATASET_REQUESTED = "classifier-dataset-requested"  # store: the data set in the URL
    TRAINING_DATA = "classifier-training-data"  # counts per class and sample thumbnails
    FIELD = "classifier-field"  # pattern-matching type, index = parameter name
    FIELD_ERROR = "classifier-field-error"  # pattern-matching type, index = parameter name
    TRAIN = "classifier-train"
    INFER = "classifier-infer"
    FEEDBACK = "classifier-feedback"
    LOSS = "classifier-loss"
    ACCURACY = "classifier-accuracy"
    REPORT = "classifier-report"  # confusion matrix, per-class precision and recall
    COMPARE_RUNS = "classifier-compare-runs"
    COMPARE_TABLE = "classifier-compare-table"
    COMPARE_PLOT = "classifier-compare-plot"
    INFERENCE = "classifier-inference"  # dropdown of finished classifier_infer jobs
    ITEM = "classifier-item"  # store: the item whose probabilities are shown
    ITEM_VIEW = "classifier-item-view"
    PROBABILITIES = "classifier-probabilities"
    CONFIDENCE = "classifier-confidence"
    MODEL_HINT = "classifier-model-hint"  # the chosen model's cost at the chosen image size
    CURVES_HINT = "classifier-curves-hint"  # what to do while there are no curves
    PROBABILITY_HINT = "classifier-probability-hint"  # ... no inference
    PROBABILITY_AREA = "classifier-probability-area"  # shown once there is an inference
    KNOWN_FINISHED = "classifier-known-finished"  # store: finished runs/inferences seen
    ITEM_NAME = "classifier-item-name"  # find an image of the inference by file name
    ITEM_NAME_NOTE = "classifier-item-name-note"
    STRIP = "classifier-strip"  # thumbnails to click: least confident, or a histogram bar's
    STRIP_TITLE = "classifier-strip-title"
    STRIP_ITEM = "classifier-strip-item"  # pattern-matching type, index = item id
    # applying a model of any data set: its classes map to this data set's by name
    APPLY_MODEL = "classifier-apply-model"  # dropdown of the library's classifiers
    APPLY_CREATE = "classifier-apply-create"  # checkbox: create the classes this one lacks
    APPLY = "classifier-apply"
    APPLY_NOTE = "classifier-apply-note"  # how the chosen model's classes map


class Profile:
    """One's own account: name, role, API tokens."""
    TOKEN_NAME = "profile-token-name"
    CREATE = "profile-token-create"
    NEW_TOKEN = "profile-new-token"  # the secret, shown once
    TOKENS = "profile-tokens"
    REVOKE = "profile-token-revoke"  # pattern-matching type, index = token id
    FEEDBACK = "profile-feedback"
    CHANGED = "profile-changed"  # store: bumped when the tokens change


class Models:
    """The model library: the models (succeeded training jobs), one model's card and facts."""
    DATASET = "models-dataset"  # filter
    EVERY = "all"  # the filters' value that shows all
    KIND = "models-kind"  # filter
    TABLE = "models-table"
    ROW = "models-row"  # pattern-matching type, index = model id
    SELECTED = "models-selected"  # store: the selected model id
    CHANGED = "models-changed"  # store: bumped when a model was renamed or deleted
    DETAIL = "models-detail"  # the selected model's card, shown once one is selected
    FACTS = "models-facts"
    NAME = "models-name"
    NAME_ERROR = "models-name-error"
    DESCRIPTION = "models-description"
    DESCRIPTION_ERROR = "models-description-error"
    SAVE = "models-save"
    RESULTS_LINK = "models-results-link"
    DELETE = "models-delete"
    FEEDBACK = "models-feedback"
    CONFIRM_MODAL = "models-confirm-modal"  # "delete this model?", saying what is lost
    CONFIRM_TEXT = "models-confirm-text"
    CONFIRM_DELETE = "models-confirm-delete"
    CONFIRM_KEEP = "models-confirm-keep"
    EXPORT_LINK = "models-export-link"  # downloads the selected model as one file
    IMPORT_UPLOAD = "models-import-upload"  # a model file to import
    IMPORT_MESSAGE = "models-import-message"  # what the import made, or why it refused
