"""Choosing models by exact name or family prefix, and the workload each one gets."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ometer_tui.core.models import ModelInfo


def matches(model: str, pattern: str) -> bool:
    """``llama3`` matches ``llama3:8b`` and ``llama3.2:1b``; case-insensitive."""
    return model.lower().startswith(pattern.strip().lower())


def filter_models(models: Iterable[ModelInfo], text: str) -> list[ModelInfo]:
    """The models a filter box shows: all when empty, else exact-or-prefix matches."""
    text = text.strip()
    return [m for m in models if not text or matches(m.name, text)]


def select_models(
    available: Sequence[ModelInfo], patterns: Sequence[str]
) -> tuple[list[ModelInfo], list[str]]:
    """(selected models in server order, patterns that matched nothing).

    A pattern equal to a model's name selects just that model; otherwise it selects
    every model whose name starts with it.
    """
    chosen: set[str] = set()
    unmatched: list[str] = []
    names = {m.name.lower(): m.name for m in available}
    for pattern in patterns:
        exact = names.get(pattern.strip().lower())
        if exact is not None:
            chosen.add(exact)
            continue
        hits = [m.name for m in available if matches(m.name, pattern)]
        if hits:
            chosen.update(hits)
        else:
            unmatched.append(pattern)
    return [m for m in available if m.name in chosen], unmatched
