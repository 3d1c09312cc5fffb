"""When a load stops: a number of requests, a duration, an error budget."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StopConditions:
    """Any condition met stops sending (requests in flight still finish).

    ``max_error_rate`` (0..1) is judged once ``error_rate_min_requests`` have finished,
    so the first failure is not a 100% error rate.
    """

    max_requests: int | None = None
    duration_s: float | None = None
    max_errors: int | None = None
    max_error_rate: float | None = None
    error_rate_min_requests: int = 20

    def validate(self) -> list[str]:
        problems: list[str] = []
        if self.max_requests is not None and self.max_requests < 1:
            problems.append(f"--requests: must be at least 1 (got {self.max_requests})")
        if self.duration_s is not None and not (
            self.duration_s > 0 and math.isfinite(self.duration_s)
        ):
            problems.append(f"--duration: must be more than 0 seconds (got {self.duration_s:g})")
        if self.max_errors is not None and self.max_errors < 1:
            problems.append(f"--max-errors: must be at least 1 (got {self.max_errors})")
        if self.max_error_rate is not None and not 0 < self.max_error_rate <= 1:
            problems.append(
                f"--max-error-rate: must be more than 0 and at most 1 (got {self.max_error_rate:g})"
            )
        return problems

    @property
    def bounded(self) -> bool:
        """True when the load ends on its own (a request count or a duration)."""
        return self.max_requests is not None or self.duration_s is not None


class StopTracker:
    """Counts sends and outcomes; ``reason`` says why sending must stop, or ``None``."""

    def __init__(self, conditions: StopConditions) -> None:
        self.conditions = conditions
        self.sent = 0
        self.finished = 0
        self.errors = 0
        self._error_reason: str | None = None

    def on_sent(self) -> None:
        self.sent += 1

    def on_finished(self, ok: bool) -> None:
        self.finished += 1
        if not ok:
            self.errors += 1
        c = self.conditions
        if self._error_reason is not None:
            return
        if c.max_errors is not None and self.errors >= c.max_errors:
            self._error_reason = f"error budget: {self.errors} errors (--max-errors {c.max_errors})"
        elif (
            c.max_error_rate is not None
            and self.finished >= c.error_rate_min_requests
            and self.errors / self.finished > c.max_error_rate
        ):
            self._error_reason = (
                f"error budget: {self.errors}/{self.finished} failed, above "
                f"{c.max_error_rate:.0%} (--max-error-rate)"
            )

    def reason(self, elapsed_s: float) -> str | None:
        """Why no further request may be sent at ``elapsed_s`` from the start."""
        c = self.conditions
        if self._error_reason is not None:
            return self._error_reason
        if c.max_requests is not None and self.sent >= c.max_requests:
            return f"{self.sent} requests sent (--requests)"
        if c.duration_s is not None and elapsed_s >= c.duration_s:
            return f"duration {c.duration_s:g} s reached (--duration)"
        return None
