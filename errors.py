"""The domain error every layer raises: a request refused, with the input it is about.

``field`` names the offending input (``"dataset_id"``, ``"params.epochs"``...), so a form
can mark that field and the API can name it; ``status`` is the HTTP status the web layer
answers with (400 unless the thing is missing, 404, or in the wrong state, 409).
"""
from __future__ import annotations


class DomainError(ValueError):
    """A request refused; ``field`` names the offending input."""

    def __init__(self, message: str, field: str | None = None, status: int = 400):
        super().__init__(message)
        self.field = field
        self.status = status
