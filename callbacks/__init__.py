"""The page callbacks; importing this package registers them with ``dash.callback``."""
from callbacks import (datasets, label, label_classes, label_guided,  # noqa: F401
                       label_history, label_viewer)
