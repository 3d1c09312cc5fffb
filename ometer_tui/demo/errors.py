"""Error replies, shaped the way each kind of server shapes them."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from enum import StrEnum

from ometer_tui.demo.http import Responder, dump_json, reason_phrase


class Dialect(StrEnum):
    """Whose conventions an answer follows (error bodies, 404s)."""

    OLLAMA = "ollama"
    OPENAI = "openai"


class BodyStyle(StrEnum):
    JSON = "json"  # {"error": "..."} or {"error": {"message": ...}} by dialect
    TEXT = "text"
    HTML = "html"
    EMPTY = "empty"
    DETAIL = "detail"  # FastAPI's {"detail": "..."}, whatever the dialect


@dataclass(eq=False)
class DemoError(Exception):
    """An HTTP error answer; raise it from a handler and the server renders it."""

    status: int
    message: str
    headers: dict[str, str] = field(default_factory=dict)
    openai_type: str = "invalid_request_error"
    openai_code: str | None = None
    style: BodyStyle = BodyStyle.JSON

    def __str__(self) -> str:
        return f"{self.status} {self.message}"


def bad_request(message: str) -> DemoError:
    return DemoError(400, message)


def unknown_model(name: str, dialect: Dialect) -> DemoError:
    if dialect is Dialect.OLLAMA:
        return DemoError(404, f'model "{name}" not found, try pulling it first')
    return DemoError(404, f"The model `{name}` does not exist", openai_code="model_not_found")


def unauthorized(dialect: Dialect) -> DemoError:
    headers = {"WWW-Authenticate": 'Bearer realm="ometer-demo"'}
    if dialect is Dialect.OLLAMA:
        return DemoError(401, "unauthorized", headers)
    return DemoError(401, "Incorrect API key provided", headers, openai_code="invalid_api_key")


def error_body(error: DemoError, dialect: Dialect) -> tuple[bytes, str | None]:
    """The body and Content-Type of an error answer."""
    if error.style is BodyStyle.EMPTY:
        return b"", None
    if error.style is BodyStyle.DETAIL:
        return dump_json({"detail": error.message}), "application/json"
    if error.style is BodyStyle.TEXT:
        return error.message.encode() + b"\n", "text/plain; charset=utf-8"
    if error.style is BodyStyle.HTML:
        title = f"{error.status} {reason_phrase(error.status)}"
        page = (
            f"<html><head><title>{title}</title></head>"
            f"<body><center><h1>{title}</h1></center><p>{html.escape(error.message)}</p>"
            "<hr><center>ometer-demo</center></body></html>\n"
        )
        return page.encode(), "text/html; charset=utf-8"
    return dump_json(json_error_payload(error, dialect)), "application/json; charset=utf-8"


def json_error_payload(error: DemoError, dialect: Dialect) -> dict[str, object]:
    if dialect is Dialect.OLLAMA:
        return {"error": error.message}
    return {
        "error": {
            "message": error.message,
            "type": error.openai_type,
            "param": None,
            "code": error.openai_code,
        }
    }


async def send_error(responder: Responder, error: DemoError, dialect: Dialect) -> None:
    body, content_type = error_body(error, dialect)
    await responder.send(error.status, body, content_type, error.headers)
