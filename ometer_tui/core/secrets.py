"""The one place a token is held, resolved, masked and redacted.

A raw token lives only inside a :class:`Secret`. Its ``repr`` and ``str`` are masked,
so a traceback, a crash screen that prints locals, a log line or an f-string never shows
it. Code that must put the token on the wire calls :meth:`Secret.reveal` at the last
moment (building request headers) and nowhere else.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass

MASK = "••••"
#: Header names whose values are always masked when shown or logged.
SENSITIVE_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "api-key", "cookie", "set-cookie"}
)


class Secret:
    """A token that masks itself everywhere except :meth:`reveal`."""

    __slots__ = ("__value",)

    def __init__(self, value: str) -> None:
        self.__value = value

    def reveal(self) -> str:
        """The raw value: only for putting on the wire."""
        return self.__value

    @property
    def masked(self) -> str:
        return mask(self.__value)

    def __bool__(self) -> bool:
        return bool(self.__value)

    def __repr__(self) -> str:
        return f"Secret({self.masked!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other.__value == self.__value

    def __hash__(self) -> int:
        return hash(self.__value)

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("a Secret is not picklable")


def mask(value: str) -> str:
    """A masked form that proves a token is set without showing it.

    Long tokens keep their last four characters (as most dashboards do), short ones none.
    """
    if not value:
        return ""
    if len(value) >= 16:
        return f"{MASK}{value[-4:]}"
    return MASK


@dataclass(frozen=True, slots=True)
class TokenRef:
    """Where a token comes from: a literal value, or an environment variable name.

    Exactly one of ``value`` / ``env`` is set. The reference (``env``) is what settings
    save; the literal is saved only when the user typed one.
    """

    value: Secret | None = None
    env: str | None = None

    @property
    def is_set(self) -> bool:
        return self.value is not None or self.env is not None

    def describe(self) -> str:
        """A display form: the masked literal, or ``$VAR`` (set / unset)."""
        if self.env is not None:
            state = "set" if os.environ.get(self.env) else "unset"
            return f"${self.env} ({state})"
        if self.value is not None:
            return self.value.masked or "(empty)"
        return "none"


class SecretResolutionError(ValueError):
    """A token reference could not be resolved (names the variable, never a value)."""


def resolve(ref: TokenRef | None, *, what: str = "token") -> Secret | None:
    """Resolve a reference to a :class:`Secret` (``None`` when no token is configured)."""
    if ref is None or not ref.is_set:
        return None
    if ref.env is not None:
        raw = os.environ.get(ref.env)
        if raw is None:
            raise SecretResolutionError(f"{what}: environment variable {ref.env} is not set")
        if not raw.strip():
            raise SecretResolutionError(f"{what}: environment variable {ref.env} is empty")
        return Secret(raw.strip())
    return ref.value


def redact_headers(headers: Iterable[tuple[str, str]] | Mapping[str, str]) -> dict[str, str]:
    """Headers with every sensitive value masked, for logs and the debug screen."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    out: dict[str, str] = {}
    for name, value in items:
        if name.lower() in SENSITIVE_HEADERS:
            scheme, _, rest = value.partition(" ")
            out[name] = f"{scheme} {mask(rest)}" if rest else mask(value)
        else:
            out[name] = value
    return out


class WireHeaders(MutableMapping[str, str]):
    """Request headers holding revealed secrets on their way to the wire.

    A plain dict would show the raw token wherever it is printed: in a crash dump that
    lists local variables (Textual's, rich's ``show_locals``), a debugger, a log line.
    This mapping behaves like the dict it wraps and masks itself when shown.
    """

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, str] | None = None) -> None:
        self._data: dict[str, str] = dict(data) if data else {}

    def __getitem__(self, key: str) -> str:
        return self._data[key]

    def __setitem__(self, key: str, value: str) -> None:
        self._data[key] = value

    def __delitem__(self, key: str) -> None:
        del self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"WireHeaders({redact_headers(self._data)!r})"

    __str__ = __repr__

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("WireHeaders are not picklable")


def redact_text(text: str, secrets: Iterable[Secret | None]) -> str:
    """Replace every occurrence of each secret's raw value in ``text`` with its mask."""
    for secret in secrets:
        if secret:
            raw = secret.reveal()
            text = text.replace(raw, secret.masked or MASK)
    return text


_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]*@")


def strip_url_credentials(url: str) -> str:
    """``https://user:pass@host/x`` -> ``https://host/x``."""
    return _URL_CREDENTIALS.sub(lambda m: m.group("scheme"), url)
