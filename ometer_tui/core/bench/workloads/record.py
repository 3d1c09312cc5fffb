"""What a load adds to one run's record (``RunRecord.load``).

Kept apart from ``records`` (it imports nothing of the engine) so the record type can
name it without an import cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True, slots=True)
class LoadStamp:
    """One request of a load.

    ``intended_at_s`` (open loop): when the timetable said to send, in seconds since the
    benchmark started; the record's ``started_at_s`` is when it was really handed to the
    socket. ``schedule_lag_s`` = actual - intended. ``ttft_from_intended_s`` and
    ``e2e_from_intended_s`` measure from the intended time (corrected for coordinated
    omission: a late send counts against the server); the record's own ``ttft_s`` and
    ``e2e_s`` stay measured from the actual send. The two are never mixed.
    """

    conversation: int  # 0-based, in the order conversations started
    turn: int = 1  # 1-based turn within the conversation
    intended_at_s: float | None = None
    schedule_lag_s: float | None = None
    ttft_from_intended_s: float | None = None
    e2e_from_intended_s: float | None = None
    input_tokens_asked: int | None = None
    output_tokens_asked: int | None = None
    #: prompt tokens the server served from its cache (llama.cpp ``timings.cache_n``,
    #: OpenAI ``usage.prompt_tokens_details.cached_tokens``), when it says
    cached_tokens: int | None = None

    def as_dict(self) -> dict[str, float]:
        """name -> value for the set fields (the export's shape for nested figures)."""
        out: dict[str, float] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out[f.name] = value
        return out
