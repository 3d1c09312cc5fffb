"""The wire truth: capture loopback traffic with tcpdump and read it back.

``Capture`` runs ``tcpdump -i lo`` (nanosecond timestamps) on one server port while a
client runs. ``read_requests`` parses the pcap with a small reader (Ethernet/IPv4/IPv6,
TCP; no dependency) and splits every connection into requests: a request is a run of
client->server payload packets, its response the server->client packets until the
client sends again. Per request it gives the time of the request's last packet, and the
time of every packet carrying a generated token (a JSON ``content``/``response``/``text``
string that is not empty), one entry per token it carries.

Packet times are CLOCK_REALTIME; ``clock_offset_ns`` maps the client's
``perf_counter_ns`` (CLOCK_MONOTONIC) onto them for per-chunk lag.
"""

from __future__ import annotations

import os
import re
import signal
import struct
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

TOKEN_RE = re.compile(rb'"(?:content|response|text)":"[^"]')
RID_RE = re.compile(rb'"r(\d{6}) ')


def clock_offset_ns(samples: int = 200) -> int:
    """CLOCK_REALTIME - CLOCK_MONOTONIC, from the tightest of ``samples`` brackets."""
    best = None
    offset = 0
    for _ in range(samples):
        a = time.perf_counter_ns()
        r = time.time_ns()
        b = time.perf_counter_ns()
        if best is None or b - a < best:
            best = b - a
            offset = r - (a + b) // 2
    return offset


class Capture:
    """tcpdump on loopback for one TCP port, as a context manager (stops on exit)."""

    def __init__(self, path: Path, port: int, cpu: int | None = None) -> None:
        self.path = path
        self.port = port
        self.cpu = cpu
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Capture:
        cmd = [
            "tcpdump", "-i", "lo", "-n", "-s", "2048", "-B", "65536", "-w", str(self.path),
            "--time-stamp-precision=nano", f"tcp port {self.port}",
        ]  # fmt: skip
        cpu = self.cpu

        def pin() -> None:
            if cpu is not None:
                os.sched_setaffinity(0, {cpu})

        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=pin
        )
        assert self.proc.stderr is not None
        deadline = time.monotonic() + 10
        line = b""
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if b"listening on" in line or not line:
                break
        if b"listening on" not in line:
            self.proc.kill()
            raise RuntimeError(f"tcpdump did not start: {line!r}")
        time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is None:
            return
        time.sleep(0.05)  # let the last packets reach the buffer
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@dataclass
class WireRequest:
    port: int  # the client's port
    request_first_ns: int
    request_last_ns: int
    response_first_ns: int | None = None
    token_ns: list[int] = field(default_factory=list)
    rid: int | None = None

    @property
    def ttft_ns(self) -> int | None:
        return self.token_ns[0] - self.request_last_ns if self.token_ns else None

    @property
    def decode_tps(self) -> float | None:
        n = len(self.token_ns)
        if n < 2 or self.token_ns[-1] <= self.token_ns[0]:
            return None
        return (n - 1) / ((self.token_ns[-1] - self.token_ns[0]) / 1e9)


def read_packets(path: Path) -> list[tuple[int, int, int, bytes, int]]:
    """(time_ns, src_port, dst_port, payload, payload_len) for TCP packets with data."""
    data = path.read_bytes()
    if len(data) < 24:
        return []
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        raise ValueError(f"not a pcap file: {path}")
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    rec = struct.Struct(endian + "IIII")
    out: list[tuple[int, int, int, bytes, int]] = []
    pos = 24
    n = len(data)
    while pos + 16 <= n:
        sec, frac, incl, _orig = rec.unpack_from(data, pos)
        pos += 16
        pkt = data[pos : pos + incl]
        pos += incl
        t = sec * 1_000_000_000 + (frac if nano else frac * 1000)
        if linktype == 1:  # Ethernet
            if len(pkt) < 14:
                continue
            ethertype = int.from_bytes(pkt[12:14], "big")
            ip = pkt[14:]
        elif linktype == 113:  # Linux cooked
            ethertype = int.from_bytes(pkt[14:16], "big")
            ip = pkt[16:]
        elif linktype in (101, 12):  # raw IP
            ethertype = 0x0800 if pkt and pkt[0] >> 4 == 4 else 0x86DD
            ip = pkt
        else:
            raise ValueError(f"unsupported link type {linktype}")
        if ethertype == 0x0800:
            if len(ip) < 20 or ip[9] != 6:
                continue
            ihl = (ip[0] & 15) * 4
            total = int.from_bytes(ip[2:4], "big")
            tcp = ip[ihl:]
            tcp_total = total - ihl
        elif ethertype == 0x86DD:
            if len(ip) < 40 or ip[6] != 6:
                continue
            tcp = ip[40:]
            tcp_total = int.from_bytes(ip[4:6], "big")
        else:
            continue
        if len(tcp) < 20:
            continue
        off = (tcp[12] >> 4) * 4
        plen = tcp_total - off
        if plen <= 0:
            continue
        sport = int.from_bytes(tcp[0:2], "big")
        dport = int.from_bytes(tcp[2:4], "big")
        out.append((t, sport, dport, bytes(tcp[off:]), plen))
    return out


def read_requests(path: Path, server_port: int) -> list[WireRequest]:
    """Every request on every connection to ``server_port``, in capture order."""
    current: dict[int, WireRequest] = {}
    answered: dict[int, bool] = {}
    requests: list[WireRequest] = []
    for t, sport, dport, payload, _plen in read_packets(path):
        if dport == server_port:  # client -> server
            port = sport
            req = current.get(port)
            if req is None or answered.get(port):
                req = WireRequest(port=port, request_first_ns=t, request_last_ns=t)
                current[port] = req
                answered[port] = False
                requests.append(req)
            else:
                req.request_last_ns = t
        elif sport == server_port:
            port = dport
            req = current.get(port)
            if req is None:
                continue
            answered[port] = True
            if req.response_first_ns is None:
                req.response_first_ns = t
            hits = len(TOKEN_RE.findall(payload))
            if hits:
                if req.rid is None:
                    m = RID_RE.search(payload)
                    if m:
                        req.rid = int(m.group(1))
                req.token_ns.extend([t] * hits)
    return requests
