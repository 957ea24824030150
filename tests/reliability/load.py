"""A bounded closed-loop load generator for the local stack (loopback only), with memory sampling.

`run_load` keeps `clients` threads each sending `POST /predict` back to back over one
keep-alive connection, until `duration_s` has passed or `max_requests` have been sent (a cap,
so a fast machine cannot turn a test into a flood). Meanwhile it samples the resident memory of
the given processes (the gateway's and the model server's) to show memory stays flat.
Used by tests/reliability/test_load.py (short form) and bench/load_test.py (full form).
"""

from __future__ import annotations

import http.client
import os
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass
class LoadResult:
    """What one run measured. Latencies in milliseconds, memory in MiB."""

    clients: int
    duration_s: float
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    failures: Counter = field(default_factory=Counter)  # exceptions by type name
    rss_mib: dict[int, list[float]] = field(default_factory=dict)  # pid -> samples

    @property
    def requests(self) -> int:
        return sum(self.statuses.values()) + sum(self.failures.values())

    @property
    def errors(self) -> int:
        return self.requests - self.statuses.get(200, 0)

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]

    def rss_growth_mib(self) -> dict[int, float]:
        """Per process: the last sample minus the first (taken after warm-up)."""
        return {pid: s[-1] - s[0] for pid, s in self.rss_mib.items() if len(s) >= 2}

    def summary(self) -> str:
        growth = ", ".join(f"pid {p}: {g:+.1f} MiB" for p, g in self.rss_growth_mib().items()) or "n/a"
        return (
            f"{self.requests} requests in {self.duration_s:.1f} s at {self.clients} clients "
            f"({self.requests / max(self.duration_s, 1e-9):.1f} req/s); errors {self.errors}; "
            f"p50 {self.percentile(50):.1f} ms, p95 {self.percentile(95):.1f} ms, "
            f"p99 {self.percentile(99):.1f} ms, mean {statistics.fmean(self.latencies_ms or [0]):.1f} ms; "
            f"statuses {dict(self.statuses)}; failures {dict(self.failures)}; RSS growth {growth}"
        )


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def pids_listening_on(port: int) -> set[int]:
    """The processes holding a listening TCP socket on `port` (Linux /proc; empty elsewhere)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if int(cols[1].rsplit(":", 1)[1], 16) == port and cols[3] == "0A":  # 0A = LISTEN
                inodes.add(f"socket:[{cols[9]}]")
    found = set()
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if any(os.readlink(fd) in inodes for fd in (proc / "fd").iterdir()):
                found.add(int(proc.name))
        except OSError:
            continue
    return found


def _client_loop(
    url: str, headers: dict[str, str], body: bytes, stop: threading.Event, quota, out: list
) -> None:
    # Each thread counts into its own result (no shared counters to race on); merged at the end.
    result = LoadResult(clients=1, duration_s=0.0)
    out.append(result)
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    while not stop.is_set() and quota():
        started = time.perf_counter()
        try:
            conn.request("POST", parts.path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            result.latencies_ms.append((time.perf_counter() - started) * 1000)
            result.statuses[response.status] += 1
        except (OSError, http.client.HTTPException) as exc:
            result.failures[type(exc).__name__] += 1
            conn.close()
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    conn.close()


def run_load(
    url: str,
    *,
    headers: dict[str, str],
    body: bytes,
    clients: int,
    duration_s: float,
    max_requests: int,
    watch_pids: set[int] = frozenset(),  # type: ignore[assignment]
    sample_every_s: float = 0.5,
    ramp_s: float = 0.5,
) -> LoadResult:
    """Drive `url` with `clients` concurrent closed-loop clients; see the module docstring."""
    host = urlsplit(url).hostname
    if host not in LOOPBACK:
        raise ValueError(f"the load test runs on loopback only, not against {host!r}")
    result = LoadResult(clients=clients, duration_s=0.0, rss_mib={pid: [] for pid in watch_pids})
    lock, sent = threading.Lock(), [0]

    def quota() -> bool:
        with lock:
            sent[0] += 1
            return sent[0] <= max_requests

    stop, partials = threading.Event(), []
    threads = [
        threading.Thread(target=_client_loop, args=(url, headers, body, stop, quota, partials), daemon=True)
        for _ in range(clients)
    ]
    started = time.perf_counter()
    # Clients join over `ramp_s`, as real ones do: this measures sustained load, while a burst of
    # simultaneous connects is its own test (test_load.py).
    for thread in threads:
        thread.start()
        time.sleep(ramp_s / clients)
    while any(t.is_alive() for t in threads) and time.perf_counter() - started < duration_s:
        _sample(result)
        time.sleep(sample_every_s)
    stop.set()
    for thread in threads:
        thread.join(timeout=35)
    result.duration_s = time.perf_counter() - started
    _sample(result)
    for part in partials:
        result.latencies_ms.extend(part.latencies_ms)
        result.statuses.update(part.statuses)
        result.failures.update(part.failures)
    return result


def _sample(result: LoadResult) -> None:
    for pid, samples in result.rss_mib.items():
        value = rss_mib(pid)
        if value is not None:
            samples.append(value)
