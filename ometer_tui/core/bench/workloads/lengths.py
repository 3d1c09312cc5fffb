"""Token length specs for synthetic prompts and answers.

Syntax (the same for ``--input-tokens`` and ``--output-tokens``):

``512``
    exactly 512 tokens.
``normal:MEAN,STDEV,MIN,MAX``
    normally distributed, rounded, clamped to MIN..MAX, e.g. ``normal:512,128,64,1024``.
``uniform:LO,HI``
    uniform on the whole numbers LO..HI (both included), e.g. ``uniform:100,900``.
``pairs:IN/OUT,IN/OUT,...``
    ``--input-tokens`` only: each request takes one (input, output) pair, picked at
    random with the seed, e.g. ``pairs:128/512,2048/128``. ``--output-tokens`` is then
    not given (the pairs say it).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ometer_tui.core.bench.workloads.errors import OptionError

#: No length spec may ask for more than this many tokens (a typo guard).
MAX_TOKENS = 1_000_000


@dataclass(frozen=True, slots=True)
class Fixed:
    tokens: int

    def sample(self, rng: random.Random) -> int:
        return self.tokens

    @property
    def mean(self) -> float:
        return float(self.tokens)


@dataclass(frozen=True, slots=True)
class Normal:
    mean_tokens: float
    stdev: float
    min_tokens: int
    max_tokens: int

    def sample(self, rng: random.Random) -> int:
        value = round(rng.gauss(self.mean_tokens, self.stdev))
        return max(self.min_tokens, min(self.max_tokens, value))

    @property
    def mean(self) -> float:
        return self.mean_tokens


@dataclass(frozen=True, slots=True)
class Uniform:
    low: int
    high: int

    def sample(self, rng: random.Random) -> int:
        return rng.randint(self.low, self.high)

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2.0


@dataclass(frozen=True, slots=True)
class Pairs:
    pairs: tuple[tuple[int, int], ...]

    def sample_pair(self, rng: random.Random) -> tuple[int, int]:
        return self.pairs[rng.randrange(len(self.pairs))]

    def sample(self, rng: random.Random) -> int:
        return self.sample_pair(rng)[0]

    @property
    def mean(self) -> float:
        return sum(p[0] for p in self.pairs) / len(self.pairs)


LengthSpec = Fixed | Normal | Uniform | Pairs


def bounds(spec: LengthSpec, which: int = 0) -> tuple[int, int]:
    """The shortest and longest lengths ``spec`` can ask (``which``: a pairs spec's
    input, 0, or output, 1)."""
    if isinstance(spec, Fixed):
        return spec.tokens, spec.tokens
    if isinstance(spec, Normal):
        return spec.min_tokens, spec.max_tokens
    if isinstance(spec, Uniform):
        return spec.low, spec.high
    lengths = [pair[which] for pair in spec.pairs]
    return min(lengths), max(lengths)


def shortest(spec: LengthSpec) -> int:
    """The shortest length ``spec`` can ask (a pairs spec: its shortest input)."""
    return bounds(spec)[0]


def _int(text: str, flag: str, spec: str, what: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise OptionError(
            flag, f"{spec!r}: {what} must be a whole number of tokens, got {text.strip()!r}"
        ) from None
    if not 1 <= value <= MAX_TOKENS:
        raise OptionError(flag, f"{spec!r}: {what} must be 1..{MAX_TOKENS}, got {value}")
    return value


def _float(text: str, flag: str, spec: str, what: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise OptionError(flag, f"{spec!r}: {what} must be a number, got {text!r}") from None
    if not 0 <= value <= MAX_TOKENS:  # NaN fails too
        raise OptionError(flag, f"{spec!r}: {what} must be 0..{MAX_TOKENS}, got {text!r}")
    return value


def _args(body: str, count: int, flag: str, spec: str, names: str) -> list[str]:
    parts = body.split(",")
    if len(parts) != count:
        raise OptionError(flag, f"{spec!r}: expected {count} numbers ({names}), got {len(parts)}")
    return parts


def parse_length_spec(text: str, flag: str = "--input-tokens") -> LengthSpec:
    """Parse one spec; raise :class:`WorkloadError` naming ``flag`` when it does not parse."""
    spec = text.strip()
    if not spec:
        raise OptionError(flag, "empty length spec (e.g. 512, normal:512,128,64,1024)")
    kind, sep, body = spec.partition(":")
    if not sep:
        return Fixed(_int(spec, flag, spec, "the length"))
    kind = kind.strip().lower()
    if kind == "normal":
        mean_s, stdev_s, lo_s, hi_s = _args(body, 4, flag, spec, "mean,stdev,min,max")
        mean = _float(mean_s, flag, spec, "the mean")
        stdev = _float(stdev_s, flag, spec, "the stdev")
        lo, hi = _int(lo_s, flag, spec, "min"), _int(hi_s, flag, spec, "max")
        if not lo <= mean <= hi:
            raise OptionError(flag, f"{spec!r}: needs min <= mean <= max")
        return Normal(mean, stdev, lo, hi)
    if kind == "uniform":
        lo_s, hi_s = _args(body, 2, flag, spec, "low,high")
        lo, hi = _int(lo_s, flag, spec, "low"), _int(hi_s, flag, spec, "high")
        if lo > hi:
            raise OptionError(flag, f"{spec!r}: needs low <= high")
        return Uniform(lo, hi)
    if kind == "pairs":
        pairs: list[tuple[int, int]] = []
        for item in body.split(","):
            a, slash, b = item.partition("/")
            if not slash:
                raise OptionError(
                    flag, f"{spec!r}: each pair is INPUT/OUTPUT, got {item.strip()!r}"
                )
            pairs.append((_int(a, flag, spec, "an input"), _int(b, flag, spec, "an output")))
        return Pairs(tuple(pairs))
    raise OptionError(flag, f"{spec!r}: unknown kind {kind!r} (use N, normal:, uniform: or pairs:)")


def length_text(spec: LengthSpec) -> str:
    """``spec`` written as :func:`parse_length_spec` reads it (a field's or a settings
    key's text): ``parse_length_spec(length_text(s)) == s``."""
    if isinstance(spec, Fixed):
        return str(spec.tokens)
    if isinstance(spec, Normal):
        return f"normal:{spec.mean_tokens:g},{spec.stdev:g},{spec.min_tokens},{spec.max_tokens}"
    if isinstance(spec, Uniform):
        return f"uniform:{spec.low},{spec.high}"
    return "pairs:" + ",".join(f"{a}/{b}" for a, b in spec.pairs)
