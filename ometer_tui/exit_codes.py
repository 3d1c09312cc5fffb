"""The command line's exit codes: one home, read by ``cli`` and ``headless``."""

from __future__ import annotations

EXIT_OK = 0
EXIT_RUNS_FAILED = 1
#: with --slo: no step met the SLOs (a sweep), or the search found no load that does
EXIT_SLO_MISSED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_INTERRUPTED = 130

EXIT_CODES_HELP = """\
exit codes:
  0    every measured run succeeded
  1    the benchmark finished but some runs failed; with --slo (a sweep, a
       search, --repeat): no step met the SLOs, whatever failed
  2    usage or settings error (bad flag, unknown model, unreadable file)
  3    endpoint unreachable (connection refused, DNS, TLS, timeout)
  130  interrupted (ctrl+c / SIGTERM); finished runs are still written
"""
