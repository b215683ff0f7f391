"""The page callbacks; importing this package registers them with ``dash.callback``."""
from callbacks import (autoencoder, classifier, datasets, explorer, jobs,  # noqa: F401
                       jobs_panel, label, label_classes, label_guided, label_history,
                       label_viewer)
