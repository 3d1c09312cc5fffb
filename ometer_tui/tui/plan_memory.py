"""The run panel's last draft per endpoint, kept in memory and in a state file.

The file (``last-plans.json`` beside the settings file) is a convenience: one that is
missing, unreadable or from another version is ignored (the panel starts from the
defaults), and a failed write keeps the draft in memory. It never holds a secret: the
run panel has none.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ometer_tui.core.atomic import write_atomic

if TYPE_CHECKING:  # the run panel (and the sweep's engine modules) load when a draft is
    # read, not with the app: the first screen does not need them
    from ometer_tui.tui.widgets.run_panel import RunDraft

STATE_FILE = "last-plans.json"
VERSION = 1


def state_path(config_path: Path) -> Path:
    """Where the drafts of the settings file ``config_path`` are kept."""
    return config_path.with_name(STATE_FILE)


def _draft_to_json(draft: RunDraft) -> dict[str, Any]:
    return {
        "prompts": draft.prompts,
        "values": dict(draft.values),
        "completion_api": draft.completion_api,
        "selected": sorted(draft.selected),
    }


def _draft_from_json(data: object) -> RunDraft | None:
    from ometer_tui.tui.widgets.load_form import LOAD_FIELD_IDS
    from ometer_tui.tui.widgets.run_panel import RUN_FIELDS, RunDraft
    from ometer_tui.tui.widgets.steps_form import STEPS_FIELD_IDS

    if not isinstance(data, dict):
        return None
    # every section's fields: the Steps section's (sweep, SLOs...) were once dropped here,
    # so a restart lost them and with them the settings' [slo] the draft had filled in
    known = {field_id for field_id, _, _ in RUN_FIELDS} | set(LOAD_FIELD_IDS)
    known |= set(STEPS_FIELD_IDS)
    values = data.get("values")
    prompts = data.get("prompts")
    selected = data.get("selected")
    if not isinstance(values, dict) or not isinstance(prompts, str):
        return None
    if not isinstance(selected, list):
        selected = []
    return RunDraft(
        prompts=prompts,
        values=MappingProxyType(
            {k: v for k, v in values.items() if k in known and isinstance(v, str)}
        ),
        completion_api=data.get("completion_api") is True,
        selected=frozenset(s for s in selected if isinstance(s, str)),
    )


class PlanMemory:
    """Drafts by endpoint name; ``path`` None keeps them in memory only."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._drafts: dict[str, RunDraft] | None = None
        #: the last write's failure (the drafts are still kept in memory)
        self.write_error: str | None = None

    def _loaded(self) -> dict[str, RunDraft]:
        if self._drafts is None:
            self._drafts = self._read()
        return self._drafts

    def _read(self) -> dict[str, RunDraft]:
        if self.path is None:
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("version") != VERSION:
            return {}
        endpoints = data.get("endpoints")
        if not isinstance(endpoints, dict):
            return {}
        drafts: dict[str, RunDraft] = {}
        for name, raw in endpoints.items():
            draft = _draft_from_json(raw)
            if isinstance(name, str) and draft is not None:
                drafts[name] = draft
        return drafts

    def get(self, endpoint_name: str) -> RunDraft | None:
        """The last draft used on ``endpoint_name``, if any."""
        return self._loaded().get(endpoint_name)

    def remember(self, endpoint_name: str, draft: RunDraft | None) -> None:
        """Keep ``draft`` for ``endpoint_name`` (None: forget it), and write the file
        when that changed anything."""
        drafts = self._loaded()
        if drafts.get(endpoint_name) == draft:
            return
        if draft is None:
            del drafts[endpoint_name]
        else:
            drafts[endpoint_name] = draft
        if self.path is None:
            return
        data = {
            "version": VERSION,
            "endpoints": {name: _draft_to_json(d) for name, d in drafts.items()},
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            write_atomic(self.path, json.dumps(data, indent=1) + "\n", mode=0o600)
        except OSError as exc:
            self.write_error = f"{self.path}: {exc.strerror or exc}"
        else:
            self.write_error = None
