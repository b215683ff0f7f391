"""Printing timings against their goals, the same way in every benchmark."""
from __future__ import annotations


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def check_times(figures: dict[str, float], goals: dict[str, float], prefix: str = "") -> list[str]:
    """Print each timing (seconds) beside its goal; return the names of the missed ones."""
    width = max(len(name) for name in figures)
    missed = []
    for name, seconds in figures.items():
        ok = seconds < goals[name]
        print(f"{prefix}{name:<{width}} {seconds * 1000:8.1f} ms  "
              f"(goal < {goals[name] * 1000:.0f} ms)  {verdict(ok)}")
        if not ok:
            missed.append(name)
    return missed


def exit_code(missed: list[str]) -> int:
    """Say which goals were missed (or that all were met): the benchmark's exit code."""
    if missed:
        print("missed: " + ", ".join(missed))
        return 1
    print("all goals met")
    return 0
