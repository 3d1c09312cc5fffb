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


class AmbiguousModelName(ValueError):
    """A pattern that, ignoring case, names several models and none in its exact case."""

    def __init__(self, pattern: str, candidates: Sequence[str]) -> None:
        self.pattern = pattern
        self.candidates = tuple(candidates)
        names = ", ".join(map(repr, self.candidates))
        super().__init__(
            f"{pattern!r} matches models that differ only in case: {names}; "
            "give the name exactly as the server lists it"
        )


def _pick(pattern: str, hits: Sequence[str], *, prefix: bool) -> list[str]:
    """The names among case-insensitive ``hits`` that ``pattern`` selects.

    Names that are the same but for case are told apart by the pattern's exact case;
    when it tells none of them (e.g. all lower case for ``Qwen`` and ``QWEN``), the
    pattern is ambiguous.
    """
    groups: dict[str, list[str]] = {}
    for name in hits:
        groups.setdefault(name.lower(), []).append(name)
    picked: list[str] = []
    for group in groups.values():
        if len(set(group)) == 1:
            picked.extend(group)
            continue
        exact = [n for n in group if (n.startswith(pattern) if prefix else n == pattern)]
        if not exact:
            raise AmbiguousModelName(pattern, sorted(set(group)))
        picked.extend(exact)
    return picked


def select_models(
    available: Sequence[ModelInfo], patterns: Sequence[str]
) -> tuple[list[ModelInfo], list[str]]:
    """(selected models in the order of the patterns, patterns that matched nothing).

    A pattern equal to a model's name selects just that model. Otherwise a pattern
    equal to a name but for case selects it when only one name is so; else it selects
    every model whose name starts with it (ignoring case). Where names differ only in
    case, the pattern's exact case decides; raises :class:`AmbiguousModelName` when it
    cannot (no guess: benchmarking the wrong model is worse than an error). A prefix
    selects its models in server order; a model selected by two patterns keeps its
    first place.
    """
    chosen: dict[str, None] = {}  # names, in the order they were first selected
    unmatched: list[str] = []
    names = [m.name for m in available]
    for raw in patterns:
        pattern = raw.strip()
        if pattern in names:
            chosen.setdefault(pattern, None)
            continue
        folded = pattern.lower()
        same = [n for n in names if n.lower() == folded]
        if same:
            chosen.update(dict.fromkeys(_pick(pattern, same, prefix=False)))
            continue
        hits = [n for n in names if n.lower().startswith(folded)]
        if hits:
            chosen.update((n, None) for n in _pick(pattern, hits, prefix=True) if n not in chosen)
        else:
            unmatched.append(raw)
    by_name = {m.name: m for m in available}
    return [by_name[name] for name in chosen], unmatched
