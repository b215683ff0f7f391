"""The page callbacks; importing this package registers them with ``dash.callback``."""
from callbacks import (autoencoder, datasets, explorer, jobs, jobs_panel,  # noqa: F401
                       label, label_classes, label_guided, label_history, label_viewer)
