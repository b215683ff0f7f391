"""Checks every API request's values pass before any route sees them: no NUL character in
a string (PostgreSQL refuses it in text, SQLite stores it raw, a path with it cannot be
opened) and no NaN or Infinity in a JSON body (not JSON, and no database column takes
them the same way). One walk over the query, the path values and the body, so a free-form
field (a job's ``params``) is covered too.
"""
from __future__ import annotations

import json
from typing import Any, Iterable, Iterator, Optional

NON_NUMBERS = ("NaN", "Infinity", "-Infinity")


class BadValue(ValueError):
    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


def _refuse_non_number(constant: str) -> Any:
    raise BadValue(f"{constant} is not a number JSON allows; send a finite number, or null "
                   "where the field may be empty", "body")


def parse_json(data: bytes) -> Any:
    """The JSON body, refusing NaN and ±Infinity (Python's json reads them by default)."""
    return json.loads(data, parse_constant=_refuse_non_number)


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """(field path, string) of every key and string value inside ``value``."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, inner in value.items():
            inner_path = f"{path}.{key}" if path else str(key)
            yield inner_path, str(key)
            yield from _strings(inner, inner_path)
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _strings(inner, f"{path}.{index}" if path else str(index))


def nul_problem(values: Iterable[tuple[str, Any]], body: Any = None) -> Optional[BadValue]:
    """The first of ``values`` ((name, value) of the query and path) or field of ``body``
    holding a NUL."""
    named = [found for name, value in values for found in _strings(value, name)]
    for field, text in (*named, *_strings(body, "")):
        if "\x00" in text:
            return BadValue(f"{field or 'body'} contains a NUL character (\\u0000), which no "
                            "name, path or text here may hold; remove it", field or "body")
    return None
