"""Typed reads of a JSON request body; a wrong type is a 400, not a traceback."""

from __future__ import annotations

import json

from ometer_tui.demo.errors import DemoError, bad_request

JsonObject = dict[str, object]


def parse_object(body: bytes) -> JsonObject:
    try:
        value = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request(f"invalid JSON body: {exc}") from exc
    if not isinstance(value, dict):
        raise bad_request("the request body must be a JSON object")
    return value


def _wrong_type(key: str, expected: str) -> DemoError:
    return bad_request(f"field {key!r} must be {expected}")


def opt_str(obj: JsonObject, key: str) -> str | None:
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value
    raise _wrong_type(key, "a string")


def require_str(obj: JsonObject, *keys: str) -> str:
    """The first of ``keys`` present as a non-empty string (e.g. ``model`` or ``name``)."""
    for key in keys:
        value = opt_str(obj, key)
        if value:
            return value
    raise bad_request(f"{keys[0]} is required")


def opt_int(obj: JsonObject, key: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _wrong_type(key, "an integer")
    if isinstance(value, float) and not value.is_integer():
        raise _wrong_type(key, "an integer")
    return int(value)


def opt_float(obj: JsonObject, key: str) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _wrong_type(key, "a number")
    return float(value)


def opt_bool(obj: JsonObject, key: str) -> bool | None:
    value = obj.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise _wrong_type(key, "true or false")


def opt_list(obj: JsonObject, key: str) -> list[object]:
    value = obj.get(key)
    if value is None:
        return []
    if isinstance(value, list):
        return value
    raise _wrong_type(key, "a list")


def opt_object(obj: JsonObject, key: str) -> JsonObject:
    value = obj.get(key)
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    raise _wrong_type(key, "an object")


def objects(items: list[object], what: str) -> list[JsonObject]:
    """Each item as an object (e.g. the messages of a chat)."""
    out: list[JsonObject] = []
    for item in items:
        if not isinstance(item, dict):
            raise bad_request(f"each of {what} must be an object")
        out.append(item)
    return out


def strings(value: object, what: str) -> list[str]:
    """A string or a list of strings, as a list (embedding inputs)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [v for v in value if isinstance(v, str)]
    raise bad_request(f"{what} must be a string or a list of strings")
