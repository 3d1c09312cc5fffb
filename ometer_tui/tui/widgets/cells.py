"""Small formatting helpers for table cells: every cell is a ``rich.text.Text``.

DataTable parses ``str`` cells as markup, so a model name with ``[`` would break; these
helpers always return ``Text``. Sorting keeps raw values elsewhere, never these strings.
"""

from __future__ import annotations

from rich.text import Text

from ometer_tui.core.models import Endpoint, ServerInfo
from ometer_tui.core.secrets import TokenRef


def cell(value: object, style: str = "") -> Text:
    """Any value as plain (never markup-parsed) text; ``None`` as a dim dash."""
    if value is None or value == "":
        return Text("–", style="dim")
    return Text(str(value), style=style)


def short_date(iso: str | None) -> str:
    """The date part of an ISO 8601 timestamp (``2026-11-20T10:00:00Z`` -> ``2026-11-20``)."""
    if not iso:
        return "–"
    return iso[:10]


def token_text(ref: TokenRef | None) -> str:
    """A masked description of a token reference, ``"none"`` when unset."""
    if ref is None or not ref.is_set:
        return "none"
    return ref.describe()


def endpoint_auth_text(endpoint: Endpoint) -> str:
    """Masked bearer token and/or API key, for the endpoints table."""
    parts: list[str] = []
    if endpoint.token is not None and endpoint.token.is_set:
        parts.append(endpoint.token.describe())
    if endpoint.api_key is not None and endpoint.api_key.is_set:
        parts.append(f"{endpoint.api_key_header}: {endpoint.api_key.describe()}")
    return ", ".join(parts) if parts else "none"


def server_status_text(info: ServerInfo) -> Text:
    """``✓ v0.12.0 · 15 models`` (flavour shown when the version is unknown)."""
    bits: list[str] = []
    if info.version:
        version = info.version
        bits.append(version if version[:1] in "vV" else f"v{version}")
    else:
        bits.append(str(info.flavour))
    if info.model_count is not None:
        bits.append(f"{info.model_count} model" + ("" if info.model_count == 1 else "s"))
    return Text("✓ " + " · ".join(bits), style="green")


def failure_text(reason: str) -> Text:
    return Text(f"✗ {reason}", style="red")
