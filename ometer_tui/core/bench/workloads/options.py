"""A load's options as a user gives them, with one rule per option.

The same options come from three places: ``ometer-tui run``'s flags (``--rate``,
``--ramp-up``...), the run panel's Load fields and the settings' ``[defaults]`` keys.
Their names are the keys of :data:`LOAD_KEYS` (the flags without ``--``, and with the
unit for ``ramp_up_s`` and ``duration_s``, as ``timeout_s``). Each key has one rule
(:func:`parse_option` for text, :func:`check_option` for a value read from TOML) and
each problem names the key the way its front end shows it (``names``: :func:`flag_name`
for the command line, :func:`key_name` for the panel and the settings)::

    options, problems = options_from_texts({"rate": "20", "requests": "200"})
    spec = resolve_load(options.over(defaults_options), seed=0)  # LoadSpec or None

:func:`resolve_load` reads the dataset file and checks how the options combine (an
arrival law needs a rate, a dataset excludes synthetic input lengths...); it raises
:class:`WorkloadError` with one line naming the option.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ometer_tui.core.bench.workloads.arrivals import ArrivalKind, ArrivalSpec
from ometer_tui.core.bench.workloads.errors import OptionError, WorkloadError
from ometer_tui.core.bench.workloads.lengths import (
    LengthSpec,
    Pairs,
    length_text,
    parse_length_spec,
)
from ometer_tui.core.bench.workloads.spec import MAX_TURNS, LoadSpec, prefix_problem
from ometer_tui.core.bench.workloads.stop import StopConditions
from ometer_tui.core.numbers import NumberError, number_problem, parse_number

Names = Callable[[str], str]

#: Every load option, in the order the run panel and the README show them.
LOAD_KEYS: tuple[str, ...] = (
    "rate",
    "arrival",
    "burstiness",
    "max_concurrency",
    "ramp_up_s",
    "duration_s",
    "requests",
    "max_errors",
    "max_error_rate",
    "dataset",
    "dataset_lengths",
    "input_tokens",
    "output_tokens",
    "shared_prefix",
    "turns",
)
#: Options that only an open loop (a rate) uses.
OPEN_LOOP_KEYS: tuple[str, ...] = ("rate", "arrival", "burstiness", "max_concurrency")
#: Options whose value is text (a name, a path or a spec), the rest being numbers.
TEXT_KEYS: frozenset[str] = frozenset(
    {"arrival", "dataset", "dataset_lengths", "input_tokens", "output_tokens"}
)
_FLAGS = {"ramp_up_s": "--ramp-up", "duration_s": "--duration"}


def flag_name(key: str) -> str:
    """``ramp_up_s`` -> ``--ramp-up``: how the command line names an option."""
    return _FLAGS.get(key) or "--" + key.replace("_", "-")


def key_name(key: str) -> str:
    """The key itself: how the run panel and the settings name an option."""
    return key


# (parse as, minimum, minimum included, maximum) of the number options
_NUMBERS: dict[str, tuple[type[int] | type[float], float, bool, float | None]] = {
    "rate": (float, 0, False, None),
    "burstiness": (float, 0, False, None),
    "max_concurrency": (int, 1, True, None),
    "ramp_up_s": (float, 0, True, None),
    "duration_s": (float, 0, False, None),
    "requests": (int, 1, True, None),
    "max_errors": (int, 1, True, None),
    "max_error_rate": (float, 0, False, 1),
    "shared_prefix": (int, 0, True, None),
    "turns": (int, 1, True, MAX_TURNS),
}


@dataclass(frozen=True, slots=True)
class LoadOptions:
    """The options given (``None``: not given). ``closed_loop`` asks for a closed loop
    even when the options under these (the settings' ``[defaults]``) have a rate."""

    closed_loop: bool = False
    rate: float | None = None
    arrival: ArrivalKind | None = None
    burstiness: float | None = None
    max_concurrency: int | None = None
    ramp_up_s: float | None = None
    duration_s: float | None = None
    requests: int | None = None
    max_errors: int | None = None
    max_error_rate: float | None = None
    dataset: str | None = None
    dataset_lengths: tuple[int | None, int | None] | None = None
    input_tokens: LengthSpec | None = None
    output_tokens: LengthSpec | None = None
    shared_prefix: int | None = None
    turns: int | None = None

    def given(self) -> dict[str, Any]:
        """The options set, by key (``closed_loop`` not included)."""
        return {k: getattr(self, k) for k in LOAD_KEYS if getattr(self, k) is not None}

    def over(self, base: LoadOptions) -> LoadOptions:
        """These options, each falling back on ``base``'s; a closed loop drops the
        open-loop options of ``base``, and what is sent replaces ``base``'s: a dataset
        drops its synthetic input lengths, synthetic input lengths its dataset."""
        dropped: tuple[str, ...] = OPEN_LOOP_KEYS if self.closed_loop else ()
        if self.dataset is not None:
            dropped += ("input_tokens",)
        if self.input_tokens is not None:
            dropped += ("dataset", "dataset_lengths")
        merged = {
            k: getattr(self, k)
            if getattr(self, k) is not None or k in dropped
            else getattr(base, k)
            for k in LOAD_KEYS
        }
        return replace(self, **merged)


# ------------------------------------------------------------------ one value
def _lengths_range(text: str, name: str) -> tuple[int | None, int | None]:
    lo, sep, hi = text.partition(",")
    try:
        low = int(lo) if lo.strip() else None
        high = int(hi) if hi.strip() else None
    except ValueError:
        raise OptionError(name, f"expected MIN,MAX tokens, got {text!r}") from None
    if not sep or (low is not None and high is not None and low > high):
        raise OptionError(name, f"expected MIN,MAX with MIN <= MAX, got {text!r}")
    if (low is not None and low < 0) or (high is not None and high < 0):
        raise OptionError(name, f"expected MIN,MAX of 0 or more tokens, got {text!r}")
    return low, high


def parse_option(key: str, text: str, name: str | None = None) -> Any:
    """The value of option ``key`` typed as ``text``; raises :class:`OptionError`
    naming it ``name`` (default: the key). Blank text is not a value: callers treat it
    as "not given" before calling."""
    shown = key if name is None else name
    if key in _NUMBERS:
        kind, minimum, inclusive, maximum = _NUMBERS[key]
        try:
            return parse_number(text, kind, minimum=minimum, inclusive=inclusive, maximum=maximum)
        except NumberError as exc:
            raise OptionError(shown, str(exc)) from None
    text = text.strip()
    if key == "arrival":
        try:
            return ArrivalKind(text.lower())
        except ValueError:
            choices = ", ".join(k.value for k in ArrivalKind)
            raise OptionError(shown, f"expected one of {choices}, got {text!r}") from None
    if key == "dataset":
        if not text:
            raise OptionError(shown, "expected a file or builtin")
        return text
    if key == "dataset_lengths":
        return _lengths_range(text, shown)
    if key in ("input_tokens", "output_tokens"):
        spec = parse_length_spec(text, shown)
        if key == "output_tokens" and isinstance(spec, Pairs):
            raise OptionError(shown, f"{text!r}: pairs: give them as the input tokens")
        return spec
    raise KeyError(key)


def check_option(key: str, value: object, name: str | None = None) -> str | None:
    """The problem (``"<name>: ..."``) with a value read from a file for option
    ``key``: a number for the number options, text for the others (``input_tokens``
    and ``output_tokens`` take a whole number too). ``None``: fine."""
    shown = key if name is None else name
    if key in _NUMBERS:
        kind, minimum, inclusive, maximum = _NUMBERS[key]
        whole = isinstance(value, int) and not isinstance(value, bool)
        if not (whole or (kind is float and isinstance(value, float))):
            what = "a whole number" if kind is int else "a number"
            return f"{shown}: expected {what}, got {_shown(value)}"
        assert isinstance(value, int | float)
        problem = number_problem(value, minimum=minimum, inclusive=inclusive, maximum=maximum)
        return None if problem is None else f"{shown}: {problem}"
    if key in ("input_tokens", "output_tokens") and isinstance(value, int):
        value = str(value) if not isinstance(value, bool) else value
    if not isinstance(value, str):
        return f"{shown}: expected text, got {_shown(value)}"
    try:
        parse_option(key, value, shown)
    except OptionError as exc:
        return str(exc)
    return None


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, int | float):
        return f"{value:g}" if isinstance(value, float) else str(value)
    return type(value).__name__


def option_text(key: str, value: Any) -> str:
    """A value as :func:`parse_option` reads it back (a field's text); ``""`` for None."""
    if value is None:
        return ""
    if key == "arrival":
        return str(ArrivalKind(value).value)
    if key == "dataset_lengths":
        lo, hi = value
        return f"{'' if lo is None else lo},{'' if hi is None else hi}"
    if key in ("input_tokens", "output_tokens"):
        return length_text(value)
    if isinstance(value, float):
        return f"{value:g}" if math.isfinite(value) else str(value)
    return str(value)


def option_value(key: str, value: Any) -> object:
    """A value as the settings file stores it (TOML): numbers as numbers, a fixed
    length as a whole number, the rest as their text."""
    if key in _NUMBERS:
        return value
    text = option_text(key, value)
    return int(text) if key in ("input_tokens", "output_tokens") and text.isdigit() else text


def options_from_texts(
    texts: Mapping[str, str], names: Names = key_name, *, closed_loop: bool = False
) -> tuple[LoadOptions, list[str]]:
    """Options from text fields (``LOAD_KEYS`` ids; a blank or missing field is not
    given), and the problems, one per field, each naming it."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    for key in LOAD_KEYS:
        text = texts.get(key, "")
        if not text.strip():
            continue
        try:
            values[key] = parse_option(key, text, names(key))
        except OptionError as exc:
            problems.append(str(exc))
    return LoadOptions(closed_loop=closed_loop, **values), problems


def options_texts(options: LoadOptions) -> dict[str, str]:
    """Field texts showing ``options`` (every key of ``LOAD_KEYS``, ``""`` when not
    set) and ``load_mode`` (``open`` with a rate, else ``closed``): what a run panel
    starts from, and reads back into the same options (``plan_builder``'s
    ``overrides_from_fields``)."""
    texts = {k: option_text(k, getattr(options, k)) for k in LOAD_KEYS}
    texts["load_mode"] = "open" if options.rate is not None else "closed"
    return texts


def options_from_values(values: Mapping[str, Any]) -> LoadOptions:
    """Options from checked settings values (see :func:`check_option`)."""
    typed: dict[str, Any] = {}
    for key, value in values.items():
        if key in _NUMBERS:
            kind = _NUMBERS[key][0]
            typed[key] = kind(value)
        else:
            typed[key] = parse_option(key, str(value))
    return LoadOptions(**typed)


def options_values(options: LoadOptions) -> dict[str, object]:
    """The options set, as the settings file stores them (key -> TOML value)."""
    return {k: option_value(k, v) for k, v in options.given().items()}


# ------------------------------------------------------------------ the load
def resolve_load(
    options: LoadOptions,
    *,
    seed: int,
    prompts_given: bool = False,
    names: Names = flag_name,
) -> LoadSpec | None:
    """The :class:`LoadSpec` the options ask for, or ``None`` when none is set (the plain
    closed loop over the prompts). Reads the dataset. Raises :class:`WorkloadError`
    with one line naming the option (``names``), before anything is sent.

    ``prompts_given``: the user gave prompts too (the command line's ``--prompt`` /
    ``--prompts``), which a dataset excludes.
    """
    from ometer_tui.core.bench.workloads.datasets import filter_lengths, load_dataset

    o, n = options, names
    if not o.given():
        return None
    arrival = None
    if o.rate is not None:
        kind = o.arrival or (ArrivalKind.GAMMA if o.burstiness is not None else ArrivalKind.POISSON)
        if o.burstiness is not None and kind is not ArrivalKind.GAMMA:
            raise WorkloadError(
                f"{n('burstiness')}: applies to {n('arrival')} gamma, not {kind.value}"
            )
        arrival = ArrivalSpec(o.rate, kind, o.burstiness or 1.0)
    else:
        for key in ("arrival", "burstiness", "max_concurrency"):
            if getattr(o, key) is not None:
                hint = f" (the closed loop's streams are {n('concurrency')})" * (
                    key == "max_concurrency"
                )
                raise WorkloadError(f"{n(key)}: applies to an open loop: give {n('rate')}{hint}")
    if o.dataset is not None and prompts_given:
        raise WorkloadError(
            f"{n('dataset')}: give a dataset or {n('prompt')}/{n('prompts')}, not both"
        )
    if o.dataset is not None and o.input_tokens is not None:
        raise WorkloadError(f"{n('dataset')} and {n('input_tokens')}: give one, not both")
    if isinstance(o.input_tokens, Pairs) and o.output_tokens is not None:
        raise WorkloadError(
            f"{n('input_tokens')} pairs: and {n('output_tokens')}: give the outputs in the "
            "pairs only"
        )
    problem = prefix_problem(
        o.shared_prefix, o.input_tokens, (n("shared_prefix"), n("input_tokens"))
    )
    if problem is not None:
        raise WorkloadError(problem)
    if o.requests is None and o.duration_s is None:
        raise WorkloadError(
            f"{n('requests')} or {n('duration_s')}: a load needs one to know when to stop"
        )
    dataset = None
    if o.dataset is not None:
        dataset = load_dataset(o.dataset, n("dataset"))
        if o.dataset_lengths is not None:
            dataset = filter_lengths(dataset, *o.dataset_lengths, n("dataset_lengths"))
    elif o.dataset_lengths is not None:
        raise WorkloadError(f"{n('dataset_lengths')}: filters a {n('dataset')}; none was given")
    spec = LoadSpec(
        arrival=arrival,
        max_concurrency=o.max_concurrency,
        ramp_up_s=o.ramp_up_s or 0.0,
        stop=StopConditions(
            max_requests=o.requests,
            duration_s=o.duration_s,
            max_errors=o.max_errors,
            max_error_rate=o.max_error_rate,
        ),
        dataset=dataset,
        input_tokens=o.input_tokens,
        output_tokens=o.output_tokens,
        shared_prefix_tokens=o.shared_prefix or 0,
        turns=o.turns or 1,
        seed=seed,
    )
    problems = spec.validate()  # each value was checked above: a safety net
    if problems:
        raise WorkloadError(problems[0])
    return spec


def describe_options(options: LoadOptions) -> str:
    """A few words for a collapsed Load section: ``none``, ``closed, 100 req``,
    ``open 10/s, 60 s``."""
    o = options
    if not o.given():
        return "none"
    parts = [f"open {o.rate:g}/s" if o.rate is not None else "closed"]
    if o.duration_s is not None:
        parts.append(f"{o.duration_s:g} s")
    if o.requests is not None:
        parts.append(f"{o.requests} req")
    return ", ".join(parts)
