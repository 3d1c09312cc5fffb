"""Headless flags for the API an endpoint speaks (issue #14), hooked into ``cli.py`` and
``headless.py`` with a few lines:

* ``--api ollama|openai|custom|PROFILE`` (``llm-api``, ``llm-api-json``, ``tgi``,
  ``llamacpp``), ``--profile FILE`` (a TOML file with a custom profile, for ``--api
  custom``; a built-in profile's fields may be changed with ``base = "llm-api"``);
* ``--drop-unsupported``: a parameter the server rejects is dropped and the request sent
  once more without it (recorded per run);
* ``--truncate start|middle``: a prompt longer than the context window is cut to fit
  (recorded per run); without it such a prompt is refused.
"""

from __future__ import annotations

import argparse
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

# What the parser needs (the choices) is light; the models and the demo server's module
# (prometheus_client) load when the flags are applied.
from ometer_tui.core.api.custom_profile import (
    BUILTIN_PROFILES,
    TRUNCATE_CHOICES,  # guard.TRUNCATE_MODES, without the guard's imports
    profile_from_table,
)
from ometer_tui.core.api_profile import CustomProfile
from ometer_tui.core.secrets import Secret, TokenRef

if TYPE_CHECKING:
    from ometer_tui.core.bench.records import RunRecord
    from ometer_tui.core.models import Endpoint

NATIVE = ("ollama", "openai")
API_CHOICES: tuple[str, ...] = (*NATIVE, "custom", *sorted(BUILTIN_PROFILES))


def _api_choice(text: str) -> str:
    value = text.strip().lower()
    if value not in API_CHOICES:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(API_CHOICES)}, got {text!r}")
    return value


class _ApiAction(argparse.Action):
    """``--api``: the last value in ``api``, every value in ``apis`` (several endpoints:
    one ``--api`` per endpoint, see endpoint_args.apis_given)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        namespace.api = values
        namespace.apis = [*(getattr(namespace, "apis", None) or []), values]


def add_api_options(group: argparse._ArgumentGroup) -> None:
    """``--api``, ``--profile``, ``--drop-unsupported``, ``--truncate``."""
    group.add_argument(
        "--api",
        type=_api_choice,
        metavar="API",
        action=_ApiAction,
        help=f"API flavour or profile: {', '.join(API_CHOICES)} (default: detect); "
        "with several endpoints, once for all or once per endpoint in order",
    )
    group.add_argument(
        "--profile",
        metavar="FILE",
        help="TOML file describing a custom API (with --api custom; see README)",
    )
    group.add_argument(
        "--drop-unsupported",
        action="store_true",
        help="send a request again without a parameter the server rejects (recorded)",
    )
    group.add_argument(
        "--truncate",
        choices=TRUNCATE_CHOICES,
        help="cut a prompt longer than the context window to fit (default: refuse it)",
    )


class ApiArgsError(ValueError):
    """A bad --api/--profile combination or profile file; the message names the flag."""


def read_profile_file(path: Path) -> dict[str, object]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ApiArgsError(f"--profile: {path}: not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ApiArgsError(f"--profile: {path}: cannot read ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ApiArgsError(f"--profile: {path}: not TOML ({exc})") from None
    return data


def endpoint_changes(args: argparse.Namespace, endpoint: Endpoint) -> dict[str, object]:
    """The changes the flags make to ``endpoint``; raises :class:`ApiArgsError`."""
    from ometer_tui.core.models import ApiFlavour

    api: str | None = getattr(args, "api", None)
    profile_file: str | None = getattr(args, "profile", None)
    changes: dict[str, object] = {}
    if profile_file and api not in (None, "custom"):
        raise ApiArgsError(f"--profile: only with --api custom (got --api {api})")
    if profile_file:
        path = Path(profile_file).expanduser()
        profile, problems = profile_from_table(read_profile_file(path), "")
        if profile is None:
            raise ApiArgsError(f"--profile {path}: " + "; ".join(problems))
        changes["api"] = ApiFlavour.CUSTOM
        changes["custom"] = replace(profile, name=path.stem)
    elif api == "custom":
        if endpoint.custom is None:
            raise ApiArgsError(
                "--api custom: give --profile FILE, or a built-in profile "
                f"({', '.join(sorted(BUILTIN_PROFILES))})"
            )
        changes["api"] = ApiFlavour.CUSTOM
    elif api in BUILTIN_PROFILES:
        changes["api"] = ApiFlavour.CUSTOM
        changes["custom"] = BUILTIN_PROFILES[api]
    elif api is not None:
        changes["api"] = ApiFlavour(api)
    if getattr(args, "drop_unsupported", False):
        changes["drop_unsupported"] = True
    if getattr(args, "truncate", None):
        changes["truncate"] = args.truncate
    return changes


def run_notes(record: RunRecord) -> str:
    """What a run's progress line adds: dropped parameters, not streamed, truncation."""
    notes = []
    if record.dropped_params:
        notes.append(f"dropped {', '.join(record.dropped_params)} (rejected by the server)")
    if record.not_streamed and record.ok:
        notes.append("not streamed: no TTFT")
    if record.prompt_fit:
        notes.append(record.prompt_fit)
    return f" [{'; '.join(notes)}]" if notes else ""


def demo_endpoint(args: argparse.Namespace, demo: Endpoint) -> Endpoint:
    """``run --demo --api llm-api`` (or ``tgi``): the demo serves those shapes too; the
    LLM API's demo key is filled in. Raises :class:`ApiArgsError`."""
    from ometer_tui.demo.llm_api import DEMO_API_KEY

    changes = endpoint_changes(args, demo)
    custom = changes.get("custom")
    if isinstance(custom, CustomProfile) and custom.token_header:
        changes["token"] = TokenRef(value=Secret(DEMO_API_KEY))
    return replace(demo, **changes)  # type: ignore[arg-type]
