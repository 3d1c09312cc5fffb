"""One error type for everything a workload is built from."""

from __future__ import annotations


class WorkloadError(ValueError):
    """A workload input that cannot be used. The message is one line that names the flag,
    field, file and line where it applies, e.g. ``--dataset chats.jsonl line 7: ...``."""


class OptionError(WorkloadError):
    """One load option's value is not usable: ``name`` is how the front end names it
    (``--rate``, ``rate``, ``defaults.rate``), ``body`` the problem alone (what an
    argparse type reports); ``str()`` is ``"<name>: <body>"``."""

    def __init__(self, name: str, body: str) -> None:
        super().__init__(f"{name}: {body}")
        self.name = name
        self.body = body
