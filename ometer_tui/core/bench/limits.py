"""The one home of the plan's limits: ``BenchmarkPlan.validate``, the settings'
validation (``[defaults]``, ``[endpoints.defaults]``) and the command line's help and
checks read them. Nothing imported: ``ometer-tui run --help`` needs these and not the
plan (see ``tests/unit/test_startup_imports.py``)."""

from __future__ import annotations

MAX_CONCURRENCY = 4096
MAX_PARALLEL_MODELS = 64
#: ``--workers``: engine processes on this machine (or Ray actors) a benchmark may use
MAX_WORKERS = 64
