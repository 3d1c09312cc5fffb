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
    """(selected models in the order of the patterns, patterns that matched nothing).

    A pattern equal to a model's name selects just that model; otherwise it selects
    every model whose name starts with it (those in server order). A model selected by
    two patterns keeps its first place.
    """
    chosen: dict[str, ModelInfo] = {}
    unmatched: list[str] = []
    names = {m.name.lower(): m for m in available}
    for pattern in patterns:
        exact = names.get(pattern.strip().lower())
        hits = [exact] if exact is not None else [m for m in available if matches(m.name, pattern)]
        if not hits:
            unmatched.append(pattern)
        for model in hits:
            chosen.setdefault(model.name, model)
    return list(chosen.values()), unmatched
