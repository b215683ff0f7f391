"""Parameter specs of jobs and algorithms: numbers with bounds, choices and flags, and the
checker that normalises a parameters dict against them (a DomainError naming
``params.<field>`` otherwise). Forms, job kinds and algorithm registries use it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Optional, Union

from db.models import MAX_ROW_ID
from errors import DomainError


@dataclass(frozen=True)
class Param:
    """One number parameter: its type, default and inclusive bounds."""

    type: type
    default: Any
    low: Optional[float] = None
    high: Optional[float] = None


@dataclass(frozen=True)
class Choice:
    """One of a few names; the first is the default."""

    options: tuple[str, ...]

    @property
    def default(self) -> str:
        return self.options[0]


@dataclass(frozen=True)
class Flag:
    """true or false."""

    default: bool = False


@dataclass(frozen=True)
class Nullable:
    """A number parameter that may be left out or null: None then, else checked as ``param``."""

    param: Param
    default = None


Spec = Union[Param, Choice, Flag, Nullable]


def params_checker(spec: dict[str, Spec]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A ``check_params`` for number, choice and flag parameters described by ``spec``."""

    def check(params: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(params) - set(spec))
        if unknown:
            raise DomainError(f"params.{unknown[0]} is not a parameter of this job; use "
                              f"{', '.join(sorted(spec))}", f"params.{unknown[0]}")
        return {name: _checked(name, param, params.get(name, param.default))
                for name, param in spec.items()}

    return check


def _checked(name: str, param: Spec, value: Any) -> Any:
    field = f"params.{name}"
    if isinstance(param, Nullable):
        return None if value is None else _checked(name, param.param, value)
    if isinstance(param, Choice):
        if value not in param.options:
            raise DomainError(f"{field} must be one of {', '.join(param.options)} (got {value!r})",
                              field)
        return value
    if isinstance(param, Flag):
        if not isinstance(value, bool):
            raise DomainError(f"{field} must be true or false (got {value!r})", field)
        return value
    # bool is an int in Python, but true is no batch size.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            param.type is int and not float(value).is_integer()):
        raise DomainError(f"{field} must be {'an integer' if param.type is int else 'a number'} "
                          f"(got {value!r})", field)
    if not math.isfinite(value):
        raise DomainError(f"{field} must be a finite number (got {value})", field)
    value = param.type(value)
    # an open-ended integer (a job id, a count) still has to fit the database
    high = MAX_ROW_ID if param.high is None and param.type is int else param.high
    if (param.low is not None and value < param.low) or (high is not None and value > high):
        raise DomainError(f"{field} must be between {param.low} and {high} (got {value})",
                          field)
    return value
