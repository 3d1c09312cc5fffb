"""The built-in demo endpoint: a real HTTP/1.1 server on loopback, plain asyncio.

It speaks the Ollama native API and the OpenAI-compatible API for the models of
:mod:`ometer_tui.demo.catalogue`, writing every token on a known absolute schedule and
producing named faults, so a client's measurements can be checked against the truth.

``GET /demo/stats`` and ``POST /demo/reset`` (never counted, never behind a token)
expose and clear the counters over HTTP (credentials in ``last_headers`` masked);
in-process code uses :class:`DemoServer` or :class:`DemoServerThread` directly.

Behaviour beyond the catalogue's figures, as a real server behaves:

* A model with ``load_s`` pays its load on the first request after start/reset; requests
  arriving while it loads wait for the rest of it and report that wait as
  ``load_duration``. Ollama ``keep_alive: 0`` unloads after the request; an empty prompt
  or message list only loads (``done_reason: "load"``) or unloads (``"unload"``).
* Ollama ``think: false`` drops the thinking tokens; ``think`` on a model without the
  ``thinking`` capability is a 400. ``/v1/completions`` has no reasoning channel, so
  thinking models answer there without thinking.
* Mid-stream faults strike at token index 3's deadline; with ``stream: false`` they
  become a 500, a non-JSON body, a reset, a stall, or a body cut short of its
  ``Content-Length``.
* Tokens are written no earlier than their deadline; :func:`precise_event_loop` keeps
  the lateness to tens of microseconds (the default epoll loop adds up to 1 ms).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import selectors
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from ometer_tui.demo import llm_api, ollama, openai
from ometer_tui.demo.errors import BodyStyle, DemoError, Dialect, send_error, unauthorized
from ometer_tui.demo.http import (
    MAX_HEADER_BYTES,
    MalformedRequest,
    Request,
    Responder,
    configure_socket,
    read_request,
)
from ometer_tui.demo.state import DemoState, DemoStats, Exchange, Route
from ometer_tui.demo.transport_faults import answer_transport_fault

__all__ = [
    "DemoServer",
    "DemoServerThread",
    "DemoStats",
    "precise_event_loop",
    "run_in_thread",
    "serve",
]

logger = logging.getLogger(__name__)

ALL_FLAVOURS: frozenset[str] = frozenset({"ollama", "openai"})
_FLAVOUR_ROUTES: dict[str, tuple[Dialect, dict[str, Route]]] = {
    "ollama": (Dialect.OLLAMA, ollama.ROUTES),
    "openai": (Dialect.OPENAI, openai.ROUTES),
}
CONTROL_PREFIX = "/demo/"

T = TypeVar("T")


def precise_event_loop() -> asyncio.AbstractEventLoop:
    """An event loop whose timers wake within tens of microseconds of their deadline.

    epoll and poll take whole-millisecond timeouts and asyncio rounds them up, so every
    token would be written 0-1 ms late (about 0.8 ms at the median); ``select()`` takes
    microseconds. Its limit (descriptors below 1024) is no concern for a loopback demo.
    Use it with ``asyncio.Runner(loop_factory=precise_event_loop)``.
    """
    return asyncio.SelectorEventLoop(selectors.SelectSelector())


class DemoServer:
    """The demo endpoint on the running event loop.

    ``flavours`` chooses which APIs answer; the other's paths get the 404 a real server
    of the enabled kind gives. ``require_token`` demands ``Authorization: Bearer``;
    ``reject_stream_options`` makes ``/v1`` refuse ``stream_options`` like some
    OpenAI-compatible servers do.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        flavours: frozenset[str] = ALL_FLAVOURS,
        require_token: str | None = None,
        reject_stream_options: bool = False,
    ) -> None:
        unknown = set(flavours) - ALL_FLAVOURS
        if unknown or not flavours:
            raise ValueError(f"flavours must be a non-empty subset of {sorted(ALL_FLAVOURS)}")
        self.host = host
        self.flavours = frozenset(flavours)
        self._requested_port = port
        self._port: int | None = None
        self._state = DemoState(
            require_token=require_token, reject_stream_options=reject_stream_options
        )
        self._routes: dict[str, tuple[Dialect, Route]] = {
            path: (dialect, route)
            for flavour in sorted(self.flavours)
            for dialect, routes in [_FLAVOUR_ROUTES[flavour]]
            for path, route in routes.items()
        }
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[Any]] = set()

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("the demo server is already running")
        self._server = await asyncio.start_server(
            self._on_connection, self.host, self._requested_port, limit=MAX_HEADER_BYTES
        )
        self._port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening, cancel every in-flight handler and close every connection."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        connections = list(self._connections)
        for task in connections:
            task.cancel()
        await asyncio.gather(*connections, return_exceptions=True)
        await server.wait_closed()

    async def __aenter__(self) -> DemoServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the demo server has not been started")
        return self._port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def stats(self) -> DemoStats:
        """The live counters (read them on the server's event loop)."""
        return self._state.stats

    def reset(self) -> None:
        """Zero the counters and forget loaded models, so cold loads happen again."""
        self._state.reset()

    # -- connections -------------------------------------------------------------------

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if self._server is None:  # accepted just as the server stopped
            writer.close()
            return
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        configure_socket(writer)
        try:
            await self._serve_connection(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # the client left, or the server is stopping: nothing to report
        except Exception:
            logger.exception("demo server: unexpected error on a connection")
        finally:
            if task is not None:
                self._connections.discard(task)
            writer.close()

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                request = await read_request(reader, writer)
            except MalformedRequest as exc:
                responder = Responder(writer, keep_alive=False)
                await send_error(responder, DemoError(exc.status, exc.message), Dialect.OPENAI)
                return
            if request is None:
                return
            responder = Responder(
                writer, keep_alive=request.keep_alive, http10=request.version == "HTTP/1.0"
            )
            exchange = Exchange(
                request,
                responder,
                self._state,
                self._dialect_for(request.path),
                reader,
                loop,
                start=loop.time(),
            )
            await self._dispatch(exchange)
            if not responder.keep_alive:
                return

    # -- routing -----------------------------------------------------------------------

    def _dialect_for(self, path: str) -> Dialect:
        if path.startswith("/v1/"):
            return Dialect.OPENAI
        if path.startswith("/api/") or "openai" not in self.flavours:
            return Dialect.OLLAMA if "ollama" in self.flavours else Dialect.OPENAI
        return Dialect.OLLAMA

    def _not_found(self, request: Request) -> tuple[DemoError, Dialect]:
        """The 404 of the server the demo is being: Ollama's Go text, else OpenAI JSON."""
        if "ollama" in self.flavours:
            return DemoError(404, "404 page not found", style=BodyStyle.TEXT), Dialect.OLLAMA
        message = f"Invalid URL ({request.method} {request.path})"
        return DemoError(404, message), Dialect.OPENAI

    async def _dispatch(self, ex: Exchange) -> None:
        request = ex.request
        if request.path.startswith(CONTROL_PREFIX):
            await self._control(ex)
            return
        self._state.record(request)
        if llm_api.handles(request.path):  # the custom-API shapes: LLM API, TGI
            await llm_api.dispatch(ex)
            return
        dialect = ex.dialect
        try:
            if not self._state.authorised(request):
                raise unauthorized(dialect)
            found = self._routes.get(request.path)
            if found is None:
                error, dialect = self._not_found(request)
                raise error
            dialect, route = found
            ex.dialect = dialect
            if request.method != route.method:
                raise DemoError(405, "method not allowed", {"Allow": route.method})
            if route.counts_in_flight and await answer_transport_fault(ex):
                return
            await self._run(route, ex)
        except DemoError as error:
            await self._answer_error(ex, error, dialect)
        except (ConnectionError, asyncio.IncompleteReadError):
            raise
        except Exception:
            logger.exception("demo server: unexpected error answering %s", request.path)
            internal = DemoError(
                500, "internal error in the demo server", openai_type="server_error"
            )
            await self._answer_error(ex, internal, dialect)

    async def _run(self, route: Route, ex: Exchange) -> None:
        if not route.counts_in_flight:
            await route.handler(ex)
            return
        with self._state.in_flight():
            await route.handler(ex)

    @staticmethod
    async def _answer_error(ex: Exchange, error: DemoError, dialect: Dialect) -> None:
        if ex.responder.started:  # too late for a status: end the connection instead
            ex.responder.keep_alive = False
            return
        await send_error(ex.responder, error, dialect)

    async def _control(self, ex: Exchange) -> None:
        path, method = ex.request.path, ex.request.method
        if path == "/demo/stats" and method == "GET":
            await ex.responder.send_json(200, self._state.stats.to_json())
        elif path == "/demo/reset" and method == "POST":
            self._state.reset()
            await ex.responder.send_json(200, self._state.stats.to_json())
        elif path in ("/demo/stats", "/demo/reset"):
            allow = "GET" if path == "/demo/stats" else "POST"
            await send_error(
                ex.responder,
                DemoError(405, "method not allowed", {"Allow": allow}),
                Dialect.OPENAI,
            )
        else:
            await send_error(ex.responder, DemoError(404, "not found"), Dialect.OPENAI)


# -- in a thread ---------------------------------------------------------------------------


class DemoServerThread:
    """A :class:`DemoServer` on its own event loop in a daemon thread.

    Its timing never competes with the caller's event loop. ``stats()`` returns a copy
    taken on the server's loop, so it is safe to call from any thread.
    """

    def __init__(self, **kwargs: Any) -> None:
        self._server = DemoServer(**kwargs)
        self._loop = precise_event_loop()
        self._thread = threading.Thread(target=self._run, name="ometer-demo-server", daemon=True)
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._stopped = False

    def start(self, timeout_s: float = 10.0) -> DemoServerThread:
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise RuntimeError("the demo server did not start in time")
        if self._startup_error is not None:
            raise RuntimeError("the demo server failed to start") from self._startup_error
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._server.start())
        except BaseException as exc:  # reported to the starting thread
            self._startup_error = exc
            self._ready.set()
            self._loop.close()
            return
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def server(self) -> DemoServer:
        """The server itself: touch it only on its own loop (see :meth:`call`)."""
        return self._server

    def call(self, fn: Callable[[], T], timeout_s: float = 10.0) -> T:
        """Run ``fn`` on the server's loop and return its result."""

        async def on_loop() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(on_loop(), self._loop).result(timeout_s)

    def stats(self) -> DemoStats:
        return self.call(lambda: self._server.stats.snapshot())

    def reset(self) -> None:
        self.call(self._server.reset)

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._stopped or not self._thread.is_alive():
            return
        self._stopped = True
        with contextlib.suppress(TimeoutError):
            asyncio.run_coroutine_threadsafe(self._server.stop(), self._loop).result(timeout_s)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout_s)

    def __enter__(self) -> DemoServerThread:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@contextmanager
def run_in_thread(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    flavours: frozenset[str] = ALL_FLAVOURS,
    require_token: str | None = None,
    reject_stream_options: bool = False,
) -> Iterator[DemoServerThread]:
    """A demo server in a daemon thread for the duration of the ``with`` block."""
    server = DemoServerThread(
        host=host,
        port=port,
        flavours=flavours,
        require_token=require_token,
        reject_stream_options=reject_stream_options,
    ).start()
    try:
        yield server
    finally:
        server.stop()


async def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    on_ready: Callable[[str], None] | None = None,
    flavours: frozenset[str] = ALL_FLAVOURS,
    require_token: str | None = None,
    reject_stream_options: bool = False,
) -> None:
    """Run a demo server until cancelled; ``on_ready`` gets its URL once it listens."""
    server = DemoServer(
        host,
        port,
        flavours=flavours,
        require_token=require_token,
        reject_stream_options=reject_stream_options,
    )
    await server.start()
    try:
        if on_ready is not None:
            on_ready(server.url)
        await asyncio.Event().wait()
    finally:
        await server.stop()
