"""The page callbacks; importing this package registers them with ``dash.callback``."""
from callbacks import datasets, label, label_classes, label_history, label_viewer  # noqa: F401
