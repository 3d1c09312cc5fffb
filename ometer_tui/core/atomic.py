"""Atomic file writing, shared by settings and export.

A reader (or a crash, or a ``kill -9``) sees either the complete old file or the complete
new one, never a truncated mix: the data goes to a temporary file in the same folder,
is flushed and fsynced, gets its final mode, and is renamed over the target with
:func:`os.replace` (atomic on POSIX and Windows for files on one file system). The folder
is then fsynced so the rename itself survives a power cut.

A symlinked target is replaced by a regular file (callers that want to follow the link
resolve the path first).
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

__all__ = ["named_os_error", "write_atomic"]


def named_os_error(exc: OSError, message: str) -> OSError:
    """The same kind of ``OSError`` (same errno) carrying ``message: reason``."""
    text = f"{message}: {exc.strerror or str(exc) or type(exc).__name__}"
    if exc.errno is None:
        return OSError(text)
    try:
        return type(exc)(exc.errno, text)
    except TypeError:  # an OSError subclass with its own constructor
        return OSError(exc.errno, text)


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable; a no-op where folders cannot be opened (Windows)."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        fd = os.open(folder, flags)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):  # some file systems refuse fsync on folders
            os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: str | bytes, *, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` atomically, leaving the file with permissions ``mode``.

    ``str`` data is encoded as UTF-8 (no newline translation). On failure the target is
    untouched, the temporary file is removed, and an ``OSError`` (of the original kind,
    e.g. ``FileNotFoundError`` or ``PermissionError``) is raised whose message names
    ``path``.
    """
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    folder = path.parent
    if not folder.is_dir():
        missing = FileNotFoundError(errno.ENOENT, f"folder {folder} does not exist", str(folder))
        raise named_os_error(missing, f"cannot write {path}")

    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise named_os_error(exc, f"cannot write {path}") from exc

    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError):
            raise named_os_error(exc, f"cannot write {path}") from exc
        raise
    _fsync_folder(folder)
