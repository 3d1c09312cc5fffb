"""The settings model: endpoints, global defaults and UI options, and the error type."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from ometer_tui.core.bench.slo import SloTargets
from ometer_tui.core.bench.workloads.options import LoadOptions
from ometer_tui.core.history import HistorySettings
from ometer_tui.core.models import Endpoint, GenerationParams
from ometer_tui.core.settings.paths import display_path
from ometer_tui.core.telemetry.config import TelemetrySettings

SERVER_DEFAULT = "server"  # ``temperature = "server"``: send no temperature

DEFAULT_PROMPTS: tuple[str, ...] = ("Write one paragraph about the sea.",)


@dataclass(frozen=True, slots=True)
class Defaults:
    """Global starting values for a plan.

    ``temperature`` defaults to 0.0 (greedy): benchmark numbers depend on how many tokens
    come out, and greedy decoding keeps the output, and so the timing, comparable between
    passes and between servers. ``None`` (``"server"`` in the file) sends no temperature.
    ``top_p`` / ``top_k`` / ``seed``: ``None`` is not sent. ``timeout_s`` is a plan's
    whole-request timeout (it caps the connect and read timeouts too); ``None`` leaves
    each endpoint's ``[endpoints.timeouts]`` as they are (see ``bench.plan_builder``).
    ``load``: the load keys (``rate``, ``requests``, ``input_tokens``...: the flags'
    names, see ``bench.workloads.options``), none set by default (no load).
    """

    passes: int = 3
    warmup: int = 1
    temperature: float | None = 0.0
    max_tokens: int = 128
    concurrency: int = 1
    parallel_models: int = 1
    timeout_s: float | None = None
    prompts: tuple[str, ...] = DEFAULT_PROMPTS
    top_p: float | None = None
    top_k: int | None = None
    seed: int | None = None
    load: LoadOptions = field(default_factory=LoadOptions)
    #: engine workers a headless run splits its load across (``--workers``); None: one
    workers: int | None = None

    def for_endpoint(self, endpoint: Endpoint) -> Defaults:
        """These defaults with the endpoint's own overrides applied."""
        d = endpoint.defaults
        return replace(
            self,
            passes=self.passes if d.passes is None else d.passes,
            warmup=self.warmup if d.warmup is None else d.warmup,
            temperature=self.temperature if d.temperature is None else d.temperature,
            max_tokens=self.max_tokens if d.max_tokens is None else d.max_tokens,
            concurrency=self.concurrency if d.concurrency is None else d.concurrency,
            timeout_s=self.timeout_s if d.timeout_s is None else d.timeout_s,
        )

    def generation_params(self) -> GenerationParams:
        return GenerationParams(
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=self.top_k,
            seed=self.seed,
        )


@dataclass(frozen=True, slots=True)
class UiSettings:
    theme: str = "textual-dark"
    #: binding id -> key(s), e.g. ``{"run": "ctrl+r"}`` (comma-separated alternatives)
    keymap: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Settings:
    endpoints: list[Endpoint] = field(default_factory=list)
    defaults: Defaults = field(default_factory=Defaults)
    ui: UiSettings = field(default_factory=UiSettings)
    history: HistorySettings = field(default_factory=HistorySettings)
    telemetry: TelemetrySettings = field(default_factory=TelemetrySettings)
    #: ``[slo]``: latency targets in ms for goodput and the SLO search (core/bench/slo.py)
    slo: SloTargets = field(default_factory=SloTargets)
    #: non-fatal problems found while loading (unknown keys...), each naming the key
    warnings: list[str] = field(default_factory=list, compare=False)

    def endpoint(self, name: str) -> Endpoint | None:
        for ep in self.endpoints:
            if ep.name == name:
                return ep
        return None

    def with_endpoint(self, endpoint: Endpoint, replace_name: str | None = None) -> Settings:
        """A copy with ``endpoint`` added, or put in place of the one named ``replace_name``.

        Raises ``KeyError`` when ``replace_name`` is not found and ``ValueError`` when
        another endpoint already has ``endpoint.name`` (message starts with ``name:``).
        """
        endpoints = list(self.endpoints)
        index: int | None = None
        if replace_name is not None:
            for i, ep in enumerate(endpoints):
                if ep.name == replace_name:
                    index = i
                    break
            else:
                raise KeyError(replace_name)
        for i, ep in enumerate(endpoints):
            if ep.name == endpoint.name and i != index:
                raise ValueError(f"name: an endpoint named {endpoint.name!r} already exists")
        if index is None:
            endpoints.append(endpoint)
        else:
            endpoints[index] = endpoint
        return replace(self, endpoints=endpoints, warnings=list(self.warnings))

    def without_endpoint(self, name: str) -> Settings:
        """A copy without the endpoint called ``name`` (unchanged when there is none)."""
        kept = [ep for ep in self.endpoints if ep.name != name]
        return replace(self, endpoints=kept, warnings=list(self.warnings))


class SettingsError(Exception):
    """The settings file cannot be read, parsed or validated, or must not be written.

    ``str()`` is ready to show: it names the file and, for each problem, the dotted key
    (or line and column for a syntax error). It never contains a secret value.
    """

    def __init__(
        self,
        path: Path,
        problems: list[str],
        *,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.path = path
        self.problems = list(problems)
        self.line = line
        self.column = column
        shown = display_path(path)
        if line is not None:
            where = f"{shown} line {line}" + (f", column {column}" if column else "")
            message = f"{where}: {problems[0]}" if problems else where
            message += "".join(f"\n  {p}" for p in problems[1:])
        elif len(problems) == 1:
            message = f"{shown}: {problems[0]}"
        else:
            message = f"{shown}: {len(problems)} problems\n" + "\n".join(f"  {p}" for p in problems)
        super().__init__(message)
