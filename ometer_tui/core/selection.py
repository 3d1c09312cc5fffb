"""Choosing models by exact name or family prefix, and the workload each one gets."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ometer_tui.core.models import ModelInfo


def matches(model: str, pattern: str) -> bool:
    """``llama3`` matches ``llama3:8b`` and ``llama3.2:1b``; case-insensitive."""
    return model.lower().startswith(pattern.strip().lower())


#: ``=NAME`` names a model exactly, listed or not (a server may serve models it does not
#: list: the demo's capacity model ``cap-4slot:1b``, some proxies' models).
BY_NAME = "="


def by_name(models: Iterable[ModelInfo], pattern: str) -> ModelInfo | None:
    """The model ``=NAME`` asks for: the listed one of exactly that name, else a bare
    :class:`ModelInfo` of that name (not listed: no metadata); ``None`` when
    ``pattern`` is not ``=NAME``."""
    pattern = pattern.strip()
    if not pattern.startswith(BY_NAME) or not pattern[1:].strip():
        return None
    name = pattern[1:].strip()
    return next((m for m in models if m.name == name), ModelInfo(name=name))


def filter_models(models: Iterable[ModelInfo], text: str) -> list[ModelInfo]:
    """The models a filter box shows: all when empty, else exact-or-prefix matches;
    ``=NAME``: that model only, listed or not (see :func:`by_name`)."""
    text = text.strip()
    models = list(models)
    named = by_name(models, text)
    if named is not None:
        return [named]
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

    A pattern equal to a model's name selects just that model; ``=NAME`` selects the
    model of exactly that name even when the server does not list it. Otherwise a pattern
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
    extra: dict[str, ModelInfo] = {}
    for raw in patterns:
        pattern = raw.strip()
        named = by_name(available, pattern)
        if named is not None:
            chosen.setdefault(named.name, None)
            extra.setdefault(named.name, named)
            continue
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
    known = {**extra, **{m.name: m for m in available}}
    return [known[name] for name in chosen], unmatched
