"""The engine in a process of its own, behind the runner's shape.

:class:`ProcessRunner` runs a plan's :class:`~ometer_tui.core.bench.runner.BenchmarkRunner`
in a child Python process (``subprocess`` running this module's :func:`child_main`;
never a fork of the threaded caller). Its own interpreter: no lock shared with a UI, so
nothing a front end draws can delay a send or a stamp.

The pipe: one Unix socket pair, messages framed as a 4-byte length and a pickle.

* parent -> child: ``("run", id, pickled (plan, options))`` (the plan, its tokens included, goes
  over the pipe: never on a command line or in the environment), ``("cancel", id)``.
* child -> parent: ``("hello", pid)`` once; ``("events", id, [...])`` batches, each
  what piled up in ``FLUSH_S`` or ``MAX_BATCH`` events (a wave of 200 completions is a
  few writes); ``("result", id, (result, counts))`` with the records left out (the
  parent already holds them from the events, the same objects its consumers saw);
  ``("error", id, exception)``: the engine's own exception, the same class and message
  (or a ``RuntimeError`` with its text when it does not survive pickling).

The child dies with its parent: ``PR_SET_PDEATHSIG`` (Linux), and it exits at once when
its end of the pipe reads EOF. A child that dies (crash, signal) is an
:class:`EngineProcessError` out of :meth:`ProcessRunner.run` naming how it ended.

Warm engines: a child that ended its run cleanly waits for the next one (up to
``MAX_IDLE`` are kept, each exits after ``IDLE_EXIT_S`` unused), so the steps of a sweep
pay the start-up (a few hundred ms, README "How accurate is it") once. Children are
started from long-lived spawner threads: the parent-death signal follows the thread that
started a child, and a front end's worker thread ends with its run.
"""

from __future__ import annotations

import asyncio
import contextlib
import copyreg
import io
import itertools
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import IO, Any, Protocol, cast

from ometer_tui.core.bench.events import BenchmarkEvent, BenchmarkStarted
from ometer_tui.core.bench.fold import ResultFold
from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.result import BenchmarkResult
from ometer_tui.core.secrets import Secret

#: The child sends what piled up at most this long after the first event of a batch.
FLUSH_S = 0.05
#: ... or at once when this many events piled up.
MAX_BATCH = 256
#: How long a child may take to start before it counts as failed.
START_TIMEOUT_S = 60.0
#: An idle warm engine exits after this long unused.
IDLE_EXIT_S = 300.0
#: Idle engines kept for reuse.
MAX_IDLE = 4
#: Threads that start engines (each lives as long as the process: see the docstring).
SPAWNERS = 8

_HEADER = struct.Struct("!I")
_PR_SET_PDEATHSIG = 1
#: Children ask for the parent-death signal (tests turn it off to see the EOF path alone).
_PDEATHSIG = True
_ids = itertools.count(1)


class EngineProcessError(RuntimeError):
    """The engine's process did not start, died, or broke the protocol."""


class _Runner(Protocol):
    @property
    def result(self) -> BenchmarkResult: ...

    async def run(self) -> BenchmarkResult: ...

    def cancel(self) -> None: ...


EventSink = Callable[[BenchmarkEvent], None]
#: (plan, on_event, log_exchanges) -> the runner the child runs; must be picklable by
#: reference (a module-level function, or a ``functools.partial`` of one).
EngineFactory = Callable[[BenchmarkPlan, EventSink, bool], _Runner]


def benchmark_engine(plan: BenchmarkPlan, on_event: EventSink, log_exchanges: bool) -> _Runner:
    """The default engine: the plan's :class:`BenchmarkRunner`."""
    from ometer_tui.core.bench.runner import BenchmarkRunner

    return BenchmarkRunner(plan, on_event, log_exchanges=log_exchanges)


@dataclass(frozen=True, slots=True)
class _RunOptions:
    log_exchanges: bool
    worker: int
    workers: int
    engine: EngineFactory | None


# -- the pipe ----------------------------------------------------------------------------


def _reduce_secret(secret: Secret) -> tuple[type[Secret], tuple[str]]:
    return Secret, (secret.reveal(),)


#: Only this pipe carries a token: a ``Secret`` refuses pickling everywhere else.
_DISPATCH: dict[type, Any] = {**copyreg.dispatch_table, Secret: _reduce_secret}


def dumps(obj: object) -> bytes:
    buf = io.BytesIO()
    pickler = pickle.Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = _DISPATCH
    pickler.dump(obj)
    return buf.getvalue()


def frame(obj: object) -> bytes:
    data = dumps(obj)
    return _HEADER.pack(len(data)) + data


async def read_message(reader: asyncio.StreamReader) -> Any:
    """The next message, or ``None`` at the end of the stream."""
    try:
        head = await reader.readexactly(_HEADER.size)
        body = await reader.readexactly(_HEADER.unpack(head)[0])
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    return pickle.loads(body)


def _recv_exactly(sock: socket.socket, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        part = sock.recv(n - len(data))
        if not part:
            return None
        data += part
    return data


# -- the parent's side -------------------------------------------------------------------


class _Engine:
    """One engine process and the parent's end of its pipe."""

    def __init__(self, proc: subprocess.Popen[bytes], sock: socket.socket, log: IO[bytes]) -> None:
        self.proc = proc
        self.sock = sock
        self.log = log

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        """Let it go: it reads EOF and exits (its zombie is reaped by ``subprocess``)."""
        self.sock.close()
        self.log.close()

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self.close()

    def death(self) -> str:
        """How the process ended (waits for it a little: its pipe closed first)."""
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            return "the engine process stopped answering"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = "unknown"
            why = f"the engine process died (signal {-code}, {name})"
        elif code == 0:
            why = "the engine process exited unexpectedly"
        else:
            why = f"the engine process exited with code {code}"
        tail = self._log_tail()
        self.close()
        return f"{why}: {tail}" if tail else why

    def _log_tail(self) -> str:
        try:
            self.log.seek(0)
            lines = self.log.read().decode("utf-8", "replace").strip().splitlines()
        except (OSError, ValueError):
            return ""
        return lines[-1][:300] if lines else ""


_spawner_pool: ThreadPoolExecutor | None = None
_idle: list[_Engine] = []
_lock = threading.Lock()


def _spawner() -> ThreadPoolExecutor:
    global _spawner_pool
    with _lock:
        if _spawner_pool is None:
            _spawner_pool = ThreadPoolExecutor(SPAWNERS, thread_name_prefix="ometer-engine")
        return _spawner_pool


def _spawn() -> _Engine:
    """Start an engine process and wait for its hello (runs in a spawner thread)."""
    mine, theirs = socket.socketpair()
    log = tempfile.TemporaryFile()  # noqa: SIM115 (kept by the _Engine, closed there)
    code = (
        "from ometer_tui.core.bench.process_runner import child_main; "
        f"child_main({theirs.fileno()}, {os.getpid()}, {_PDEATHSIG})"
    )
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", code],
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,  # a ctrl+c in the terminal is the parent's to handle
        )
    except OSError as exc:
        mine.close()
        log.close()
        raise EngineProcessError(f"the engine process could not start: {exc}") from None
    finally:
        theirs.close()
    engine = _Engine(proc, mine, log)
    mine.settimeout(START_TIMEOUT_S)
    try:
        head = _recv_exactly(mine, _HEADER.size)
        body = None if head is None else _recv_exactly(mine, _HEADER.unpack(head)[0])
    except TimeoutError:
        engine.kill()
        raise EngineProcessError(
            f"the engine process did not start within {START_TIMEOUT_S:.0f} s"
        ) from None
    if body is None:
        raise EngineProcessError(engine.death())
    mine.settimeout(None)
    return engine


def _take() -> _Engine:
    """An idle engine, or a new one."""
    while True:
        with _lock:
            engine = _idle.pop() if _idle else None
        if engine is None:
            return _spawn()
        if engine.alive:
            return engine
        engine.close()


def _give_back(engine: _Engine) -> None:
    with _lock:
        if engine.alive and len(_idle) < MAX_IDLE:
            _idle.append(engine)
            return
    engine.close()


def warm_up(count: int = 1) -> None:
    """Start engines in the background until ``count`` are idle (returns at once)."""

    def fill() -> None:
        with _lock:
            missing = count - sum(1 for e in _idle if e.alive)
        for _ in range(missing):
            try:
                _give_back(_spawn())
            except EngineProcessError:
                return

    _spawner().submit(fill)


def idle_engine_pids() -> list[int]:
    """The pids of the engines waiting for a run (for tests and diagnostics)."""
    with _lock:
        return [e.pid for e in _idle if e.alive]


def shut_down_idle() -> None:
    """Let every idle engine go (they exit on EOF)."""
    with _lock:
        engines, _idle[:] = list(_idle), []
    for engine in engines:
        engine.close()


class ProcessRunner:
    """Runs ``plan`` in an engine process; the runner's shape: ``await run()``,
    ``cancel()`` from any thread, ``result`` (what the events carried so far, then the
    engine's final result), ``cancel_requested``.

    ``on_event`` gets the engine's events in order, on the loop that awaits :meth:`run`,
    a batch at a time, and the engine's :class:`WorkerLoad` reports (``worker`` of
    ``workers``). ``engine`` replaces the :class:`BenchmarkRunner` the child builds (a
    picklable factory; tests and benchmarks/accuracy.py use it).
    """

    def __init__(
        self,
        plan: BenchmarkPlan,
        on_event: EventSink,
        *,
        log_exchanges: bool = False,
        worker: int = 0,
        workers: int = 1,
        engine: EngineFactory | None = None,
    ) -> None:
        self.plan = plan
        self._on_event = on_event
        self._options = _RunOptions(log_exchanges, worker, workers, engine)
        self._fold = ResultFold(plan, max_exchanges=0)
        self._final: BenchmarkResult | None = None
        self._cancel_requested = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._id = next(_ids)
        #: the engine process's pid once it runs (``None`` before)
        self.pid: int | None = None

    @property
    def result(self) -> BenchmarkResult:
        return self._final or self._fold.result

    @property
    def cancel_requested(self) -> bool:
        return self._cancel_requested

    def cancel(self) -> None:
        """Ask the engine to stop; finished runs are kept. Safe from any thread."""
        self._cancel_requested = True
        loop, writer = self._loop, self._writer
        if loop is None or writer is None:
            return  # not sent yet: run() sends it with the plan
        message = frame(("cancel", self._id))
        try:
            on_loop = asyncio.get_running_loop() is loop
        except RuntimeError:
            on_loop = False
        if on_loop:
            _write(writer, message)
        else:
            with contextlib.suppress(RuntimeError):  # the loop closed: the run is over
                loop.call_soon_threadsafe(_write, writer, message)

    async def run(self) -> BenchmarkResult:
        loop = asyncio.get_running_loop()
        engine = await loop.run_in_executor(_spawner(), _take)
        self.pid = engine.pid
        clean = False
        writer: asyncio.StreamWriter | None = None
        try:
            reader, writer = await asyncio.open_unix_connection(sock=engine.sock.dup())
            self._loop, self._writer = loop, writer
            fold = self._fold.apply
            # the plan in a pickle of its own: one the child cannot read fails this run
            writer.write(frame(("run", self._id, dumps((self.plan, self._options)))))
            if self._cancel_requested:
                writer.write(frame(("cancel", self._id)))
            while True:
                message = await read_message(reader)
                if message is None:
                    raise EngineProcessError(await loop.run_in_executor(None, engine.death))
                kind = message[0]
                if kind == "events":
                    events: list[BenchmarkEvent] = message[2]
                    for event in events:  # ``result`` holds each event when it is heard
                        fold((event,))
                        self._on_event(event)
                elif kind == "result":
                    clean = True
                    self._final = self._rebuild(*message[2])
                    return self._final
                elif kind == "error":
                    clean = True
                    error: BaseException = message[2]
                    raise error
        finally:
            self._loop = self._writer = None
            if writer is not None:
                writer.close()
            if clean and not self._cancel_requested:
                _give_back(engine)
            elif clean:  # a cancelled run's engine is let go (the owner may be leaving)
                engine.close()
            else:  # cancelled from outside, a broken pipe, a consumer that raised
                _spawner().submit(engine.kill)

    def _rebuild(self, final: BenchmarkResult, counts: dict[str, int]) -> BenchmarkResult:
        """The engine's result with the records the events carried (the same objects
        the consumers hold, in the same order) and the caller's own plan."""
        seen = self._fold.result.models
        for key, mr in final.models.items():
            records = seen[key].records if key in seen else []
            if len(records) != counts.get(key, 0):
                raise EngineProcessError(
                    f"the engine's result for {mr.info.name!r} holds {counts.get(key, 0)} "
                    f"runs but its events carried {len(records)}"
                )
            mr.records = records
        final.plan = self.plan
        return final


def _write(writer: asyncio.StreamWriter, message: bytes) -> None:
    if not writer.is_closing():
        writer.write(message)


# -- the child's side --------------------------------------------------------------------


def child_main(fd: int, parent_pid: int, pdeathsig: bool = True) -> None:
    """The engine process: serve runs over the pipe ``fd`` until it closes."""
    _die_with_parent(parent_pid, pdeathsig)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    if hasattr(signal, "SIGUSR1"):  # ``kill -USR1 <pid>``: its threads' stacks to its log
        import faulthandler

        faulthandler.register(signal.SIGUSR1)
    from ometer_tui.core.bench.loop import run_engine

    run_engine(_serve(socket.socket(fileno=fd)))


def _die_with_parent(parent_pid: int, pdeathsig: bool) -> None:
    if pdeathsig and sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # it died before the signal was asked for
        os._exit(0)


class _Batcher:
    """The child's ``on_event``: events pile up and go in one write."""

    def __init__(self, run_id: int, writer: asyncio.StreamWriter) -> None:
        self.run_id = run_id
        self.writer = writer
        self.loop = asyncio.get_running_loop()
        self.items: list[BenchmarkEvent] = []
        self.handle: asyncio.TimerHandle | None = None

    def on_event(self, event: BenchmarkEvent) -> None:
        self.items.append(event)
        if len(self.items) >= MAX_BATCH or type(event) is BenchmarkStarted:
            self.flush()  # (the start at once: the screen shows the run has begun)
        elif self.handle is None:
            self.handle = self.loop.call_later(FLUSH_S, self.flush)

    def flush(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None
        if self.items:
            items, self.items = self.items, []
            self.writer.write(frame(("events", self.run_id, items)))


@dataclass(slots=True)
class _ChildState:
    current: tuple[int, _Runner] | None = None
    cancelled: set[int] | None = None


async def _serve(sock: socket.socket) -> None:
    from ometer_tui.core.bench.load_report import reporting

    reader, writer = await asyncio.open_unix_connection(sock=sock)
    writer.write(frame(("hello", os.getpid())))
    runs: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()
    state = _ChildState(cancelled=set())
    assert state.cancelled is not None

    async def listen() -> None:
        try:
            while True:
                message = await read_message(reader)
                if message is None:
                    os._exit(0)  # the parent is gone: nobody wants what is left
                if message[0] == "cancel":
                    state.cancelled.add(message[1])  # type: ignore[union-attr]
                    if state.current is not None and state.current[0] == message[1]:
                        state.current[1].cancel()
                elif message[0] == "run":
                    runs.put_nowait((message[1], message[2]))
        except Exception:  # a broken pipe protocol: die loudly (the parent says how)
            traceback.print_exc()
            os._exit(70)

    listener = asyncio.ensure_future(listen())
    try:
        while True:
            try:
                async with asyncio.timeout(IDLE_EXIT_S):
                    run_id, payload = await runs.get()
            except TimeoutError:
                return
            batch = _Batcher(run_id, writer)
            try:
                plan, options = _read_run(payload)
                engine = options.engine or benchmark_engine
                runner = engine(plan, batch.on_event, options.log_exchanges)
                state.current = (run_id, runner)
                if run_id in state.cancelled:
                    runner.cancel()
                result = await reporting(
                    runner.run(), batch.on_event, worker=options.worker, workers=options.workers
                )
            except Exception as exc:
                batch.flush()
                writer.write(frame(("error", run_id, _portable(exc))))
            else:
                batch.flush()
                writer.write(frame(("result", run_id, _stripped(result))))
            finally:
                state.current = None
                state.cancelled.discard(run_id)
            await writer.drain()
    finally:
        listener.cancel()


def _read_run(payload: bytes) -> tuple[BenchmarkPlan, _RunOptions]:
    try:
        plan, options = pickle.loads(payload)
    except Exception as exc:
        raise EngineProcessError(f"the engine process could not read the plan: {exc}") from None
    return cast(BenchmarkPlan, plan), cast(_RunOptions, options)


def _portable(exc: BaseException) -> BaseException:
    """``exc`` when it survives pickling as itself, else a ``RuntimeError`` with its text."""
    try:
        back = pickle.loads(dumps(exc))
        if type(back) is type(exc) and str(back) == str(exc):
            return exc
    except Exception:  # any failure to round-trip: the fallback below
        pass
    return RuntimeError(f"{type(exc).__name__}: {exc}")


def _stripped(result: BenchmarkResult) -> tuple[BenchmarkResult, dict[str, int]]:
    """The result without its records (the parent has them from the events) nor its
    plan (the parent's own), and how many records each row holds."""
    counts = {key: len(mr.records) for key, mr in result.models.items()}
    models = {key: replace(mr, records=[]) for key, mr in result.models.items()}
    return replace(result, plan=cast(BenchmarkPlan, None), models=models), counts
