"""Faults answered before any token: the catalogue's status faults and ``fault-http-*``.

``fault-http-<code>-<json|detail|text|html|empty>[-retry-after-<s|date|ms|N>[-long]]`` names a
model that is not in the catalogue and always answers ``<code>`` with the given kind of body,
e.g. ``fault-http-503-html-retry-after-date``. The advertised wait is short (1 s, 1 s, 200 ms);
``-long`` makes it an hour (``Retry-After: 3600``), above any retry cap;
``-retry-after-<N>`` sends ``Retry-After: N`` (whole seconds).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable
from email.utils import formatdate

from ometer_tui.demo.catalogue import DemoModel, Fault
from ometer_tui.demo.errors import BodyStyle, DemoError
from ometer_tui.demo.http import reason_phrase

HTTP_FAULT_NAME = re.compile(
    r"^fault-http-(?P<status>[45]\d\d)-(?P<style>json|detail|text|html|empty)"
    r"(?:-retry-after-(?P<retry>s|date|ms|\d{1,9})(?P<long>-long)?)?(?::latest)?$"
)


#: The wait a ``-long`` fault advertises, in seconds.
LONG_RETRY_AFTER_S = 3600


def _retry_after_seconds(long: bool = False) -> dict[str, str]:
    return {"Retry-After": str(LONG_RETRY_AFTER_S if long else 1)}


def _retry_after_date(long: bool = False) -> dict[str, str]:
    wait = LONG_RETRY_AFTER_S if long else 1
    return {"Retry-After": formatdate(round(time.time()) + wait, usegmt=True)}


def _retry_after_ms(long: bool = False) -> dict[str, str]:
    return {"retry-after-ms": str(LONG_RETRY_AFTER_S * 1000 if long else 200)}


RETRY_AFTER_HEADERS: dict[str, Callable[[bool], dict[str, str]]] = {
    "s": _retry_after_seconds,
    "date": _retry_after_date,
    "ms": _retry_after_ms,
}


def _openai_type(status: int) -> str:
    if status == 429:
        return "rate_limit_error"
    return "server_error" if status >= 500 else "invalid_request_error"


def http_fault(name: str) -> DemoError | None:
    """The error a ``fault-http-*`` model name asks for, or ``None`` for other names."""
    match = HTTP_FAULT_NAME.match(name)
    if match is None:
        return None
    status = int(match["status"])
    retry = match["retry"]
    if not retry:
        headers: dict[str, str] = {}
    elif retry.isdigit():
        headers = {"Retry-After": retry}
    else:
        headers = RETRY_AFTER_HEADERS[retry](bool(match["long"]))
    return DemoError(
        status,
        f"simulated HTTP {status} {reason_phrase(status)}",
        headers,
        openai_type=_openai_type(status),
        style=BodyStyle(match["style"]),
    )


# -- the catalogue's status faults ----------------------------------------------------

StatusFault = Callable[[DemoModel, Counter[str]], DemoError | None]


def _forbidden(model: DemoModel, attempts: Counter[str]) -> DemoError:
    return DemoError(
        403,
        f"simulated: access to model {model.name!r} is forbidden",
        openai_type="permission_error",
        openai_code="forbidden",
    )


def _rate_limited(model: DemoModel, attempts: Counter[str]) -> DemoError:
    return DemoError(
        429,
        "simulated: rate limit exceeded, retry after 1 second",
        {"Retry-After": "1"},
        openai_type="rate_limit_error",
        openai_code="rate_limit_exceeded",
    )


def _rate_limited_odd_attempts(model: DemoModel, attempts: Counter[str]) -> DemoError | None:
    attempts[model.name] += 1
    if attempts[model.name] % 2 == 0:
        return None
    return DemoError(
        429,
        "simulated: rate limit exceeded, retry now",
        {"Retry-After": "0", "retry-after-ms": "50"},
        openai_type="rate_limit_error",
        openai_code="rate_limit_exceeded",
    )


def _server_error(model: DemoModel, attempts: Counter[str]) -> DemoError:
    return DemoError(500, "simulated internal server error", openai_type="server_error")


STATUS_FAULTS: dict[Fault, StatusFault] = {
    Fault.FORBIDDEN: _forbidden,
    Fault.RATE_LIMITED: _rate_limited,
    Fault.RATE_LIMITED_ONCE: _rate_limited_odd_attempts,
    Fault.SERVER_ERROR: _server_error,
}


def status_fault(model: DemoModel, attempts: Counter[str]) -> DemoError | None:
    """The error this request to ``model`` must get before any token, if any."""
    answer = STATUS_FAULTS.get(model.fault)
    return answer(model, attempts) if answer is not None else None
