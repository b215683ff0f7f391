"""The page callbacks; importing this package registers them with ``dash.callback``."""
from callbacks import (autoencoder, datasets, jobs, jobs_panel, label,  # noqa: F401
                       label_classes, label_guided, label_history, label_viewer)
