"""Prompt datasets: ShareGPT JSON, JSONL, CSV, and the built-in set.

Formats (chosen by the file's extension):

``.json``  ShareGPT: a list of objects, each with ``conversations``: a list of turns
           ``{"from": "human"|"gpt", "value": TEXT}`` (``user``/``assistant`` and
           ``role``/``content`` are accepted too). The first human turn is the prompt;
           later human turns are the follow-ups of ``--turns``; the first answer's
           length (characters / 4, an estimate) is the expected output length.
``.jsonl`` one JSON object per line with ``prompt`` (text) and, optionally,
           ``output_tokens`` (a whole number): the answer length to ask for. A line with
           only a ``_meta`` key (a header) is skipped.
``.csv``   a header row with a ``prompt`` column and, optionally, ``output_tokens``.

``builtin`` names the small dataset shipped with ometer-tui (data/builtin.jsonl).

Every error is one line naming the flag, the file and, where it applies, the line.
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ometer_tui.core.bench.workloads.errors import WorkloadError

BUILTIN = "builtin"
#: A dataset file larger than this is refused: it would be read whole into memory.
MAX_DATASET_BYTES = 256 * 1024 * 1024
_HUMAN = frozenset({"human", "user"})
_ASSISTANT = frozenset({"gpt", "assistant", "chatgpt", "bard", "model"})


@dataclass(frozen=True, slots=True)
class DatasetEntry:
    prompt: str
    output_tokens: int | None = None  # the answer length to ask for, when known
    followups: tuple[str, ...] = ()  # later user turns (ShareGPT), for --turns


@dataclass(frozen=True, slots=True)
class Dataset:
    name: str  # the file as given, or "builtin"
    entries: tuple[DatasetEntry, ...]


def estimate_tokens(text: str) -> int:
    """A rough count (4 characters a token) for filtering and ShareGPT answer lengths
    only; what a request really carried is the server's count."""
    return max(1, round(len(text) / 4))


def load_dataset(source: str, flag: str = "--dataset") -> Dataset:
    """Read a dataset file (or ``builtin``); raise :class:`WorkloadError` if unusable."""
    if source == BUILTIN:
        ref = resources.files("ometer_tui.core.bench.workloads") / "data" / "builtin.jsonl"
        text = ref.read_text(encoding="utf-8")
        return Dataset(BUILTIN, _parse_jsonl(text, f"{flag} builtin"))
    path = Path(source).expanduser()
    where = f"{flag} {source}"
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise WorkloadError(f"{where}: is a folder, not a file")
        if size > MAX_DATASET_BYTES:
            raise WorkloadError(
                f"{where}: too large to sample from ({size / 1e6:.0f} MB; the limit is "
                f"{MAX_DATASET_BYTES / 1e6:.0f} MB): take a subset"
            )
        data = path.read_bytes()
    except FileNotFoundError:
        raise WorkloadError(f"{where}: not found") from None
    except OSError as exc:
        raise WorkloadError(f"{where}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise WorkloadError(f"{where}: not UTF-8 text (byte {exc.start})") from None
    suffix = path.suffix.lower()
    parse: Callable[[str, str], tuple[DatasetEntry, ...]]
    if suffix == ".json":
        parse = _parse_sharegpt
    elif suffix in (".jsonl", ".ndjson"):
        parse = _parse_jsonl
    elif suffix == ".csv":
        parse = _parse_csv
    else:
        raise WorkloadError(
            f"{where}: unknown format {suffix or '(no extension)'!r}: use .json (ShareGPT), "
            ".jsonl or .csv"
        )
    return Dataset(source, parse(text, where))


def _output_tokens(value: object, where: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise WorkloadError(f"{where}: output_tokens must be a whole number, got {value!r}")
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise WorkloadError(
                f"{where}: output_tokens must be a whole number, got {value!r}"
            ) from None
    if not isinstance(value, int) or value < 1:
        raise WorkloadError(f"{where}: output_tokens must be a whole number >= 1, got {value!r}")
    return value


def _prompt(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise WorkloadError(f"{where}: 'prompt' must be text, got {type(value).__name__}")
    if not value.strip():
        raise WorkloadError(f"{where}: 'prompt' is empty")
    return value


def _nonempty(entries: list[DatasetEntry], where: str, what: str) -> tuple[DatasetEntry, ...]:
    if not entries:
        raise WorkloadError(f"{where}: empty: no {what}")
    return tuple(entries)


def _parse_jsonl(text: str, where: str) -> tuple[DatasetEntry, ...]:
    entries: list[DatasetEntry] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        here = f"{where} line {number}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise WorkloadError(f"{here}: not JSON ({exc.msg})") from None
        if not isinstance(obj, dict):
            raise WorkloadError(f"{here}: expected an object with 'prompt', got {_kind(obj)}")
        if set(obj) == {"_meta"}:
            continue
        if "prompt" not in obj:
            raise WorkloadError(f"{here}: no 'prompt' key (keys: {', '.join(map(str, obj))})")
        prompt = _prompt(obj["prompt"], here)
        entries.append(DatasetEntry(prompt, _output_tokens(obj.get("output_tokens"), here)))
    return _nonempty(entries, where, "prompts (one JSON object per line)")


def _parse_csv(text: str, where: str) -> tuple[DatasetEntry, ...]:
    reader = csv.DictReader(io.StringIO(text))
    columns = [c.strip() for c in reader.fieldnames or []]
    if "prompt" not in columns:
        shown = ", ".join(columns) or "no header row"
        raise WorkloadError(f"{where} line 1: no 'prompt' column ({shown})")
    entries: list[DatasetEntry] = []
    try:
        for row in reader:
            here = f"{where} line {reader.line_num}"
            clean = {(k or "").strip(): v for k, v in row.items()}
            prompt = clean.get("prompt")
            if prompt is None or not prompt.strip():
                raise WorkloadError(f"{here}: the 'prompt' cell is empty")
            entries.append(DatasetEntry(prompt, _output_tokens(clean.get("output_tokens"), here)))
    except csv.Error as exc:
        raise WorkloadError(f"{where} line {reader.line_num}: not CSV ({exc})") from None
    return _nonempty(entries, where, "rows under the header")


def _kind(obj: object) -> str:
    names: dict[type, str] = {dict: "an object", list: "a list", str: "text"}
    return names.get(type(obj), type(obj).__name__)


def _turn(turn: object) -> tuple[str, str] | None:
    if not isinstance(turn, dict):
        return None
    role = turn.get("from", turn.get("role"))
    text = turn.get("value", turn.get("content"))
    if not isinstance(role, str) or not isinstance(text, str):
        return None
    return role.lower(), text


def _parse_sharegpt(text: str, where: str) -> tuple[DatasetEntry, ...]:
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise WorkloadError(f"{where} line {exc.lineno}: not JSON ({exc.msg})") from None
    if not isinstance(data, list):
        raise WorkloadError(
            f"{where}: expected ShareGPT: a list of {{'conversations': [...]}}, got {_kind(data)}"
        )
    entries: list[DatasetEntry] = []
    for index, item in enumerate(data):
        here = f"{where} item {index}"
        if not isinstance(item, dict) or not isinstance(item.get("conversations"), list):
            raise WorkloadError(f"{here}: expected an object with a 'conversations' list")
        turns = [t for t in map(_turn, item["conversations"]) if t is not None]
        humans = [i for i, (role, body) in enumerate(turns) if role in _HUMAN and body.strip()]
        if not humans:
            continue  # a conversation without a user turn has nothing to send
        first = humans[0]
        answer = next(
            (body for role, body in turns[first + 1 :] if role in _ASSISTANT and body.strip()),
            None,
        )
        entries.append(
            DatasetEntry(
                prompt=turns[first][1],
                output_tokens=None if answer is None else estimate_tokens(answer),
                followups=tuple(turns[i][1] for i in humans[1:]),
            )
        )
    return _nonempty(entries, where, "conversation with a human turn")


def filter_lengths(
    dataset: Dataset,
    min_tokens: int | None,
    max_tokens: int | None,
    flag: str = "--dataset-lengths",
) -> Dataset:
    """Keep the prompts whose estimated length is within ``min_tokens..max_tokens``."""
    if min_tokens is None and max_tokens is None:
        return dataset
    lo = min_tokens or 0
    hi = max_tokens if max_tokens is not None else float("inf")
    kept = tuple(e for e in dataset.entries if lo <= estimate_tokens(e.prompt) <= hi)
    if not kept:
        raise WorkloadError(
            f"{flag}: no prompt of {dataset.name} is {lo}..{max_tokens or 'any'} tokens long "
            f"(estimated; {len(dataset.entries)} prompts before the filter)"
        )
    return Dataset(dataset.name, kept)


def sample_entries(entries: Sequence[DatasetEntry], seed: int | None) -> Iterator[DatasetEntry]:
    """Endless seeded sampling without replacement: each pass is a fresh shuffle."""
    if not entries:
        raise WorkloadError("dataset: nothing to sample from")
    rng = random.Random(seed)
    order = list(range(len(entries)))
    while True:
        rng.shuffle(order)
        for i in order:
            yield entries[i]
