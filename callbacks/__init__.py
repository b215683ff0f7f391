"""The page callbacks; importing this package registers them with ``dash.callback``."""
from callbacks import datasets, gallery  # noqa: F401
