"""One error type for everything a workload is built from."""

from __future__ import annotations


class WorkloadError(ValueError):
    """A workload input that cannot be used. The message is one line that names the flag,
    field, file and line where it applies, e.g. ``--dataset chats.jsonl line 7: ...``."""
