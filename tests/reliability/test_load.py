"""Short-form load test: a bounded burst through the whole local path, with memory watched.

GIVEN the running local stack (gateway + handler + model server) on loopback
WHEN 8 clients post a 224 px JPEG back to back for 15 s (at most 3,000 requests)
THEN every request gets 200, and the resident memory of the gateway and the model server
grows by less than a small bound after warm-up. p50/p95/p99 go to the run's summary.
The full form (60 s at 16 clients) is bench/load_test.py, which writes docs/benchmarks.md.
A second test interleaves the corpus's good and bad requests over concurrent clients.
"""

from __future__ import annotations

import os
import random
import socket
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import pytest

import lesion_contract as contract

from . import corpus, images, load, wire
from .summary import record

pytestmark = pytest.mark.e2e
CLIENTS = int(os.environ.get("RELIABILITY_LOAD_CLIENTS", "8"))
DURATION_S = float(os.environ.get("RELIABILITY_LOAD_SECONDS", "15"))
MAX_REQUESTS = 3000
WARM_UP_REQUESTS = 30
# The model server batches concurrent requests (TF Serving-style): each new batch size costs a
# one-off allocation (about 80 MiB over the first seconds here), so warm up at full concurrency.
WARM_UP_SECONDS = 5.0
# Per process, after warm-up: ten times loose, so only a real leak fails it on a busy machine.
# The measured growth (about +2 MiB) is bench/load_test.py's, in docs/benchmarks.md.
RSS_GROWTH_LIMIT_MIB = 480.0


def stack_pids(stack: dict[str, Any]) -> set[int]:
    """The gateway's process (stack.json "pid", else whoever listens on the API port) and the
    model server's (whoever listens on its port)."""
    pids = {int(stack["pid"])} if stack.get("pid") else load.pids_listening_on(urlsplit(stack["apiUrl"]).port)
    if stack.get("modelServerUrl"):
        pids |= load.pids_listening_on(urlsplit(stack["modelServerUrl"]).port)
    return {pid for pid in pids if load.rss_mib(pid) is not None}


def request_for(stack: dict[str, Any], token: str) -> tuple[str, dict[str, str], bytes]:
    headers = {"Content-Type": "image/jpeg", "Authorization": f"Bearer {token}", "Origin": stack["webUrl"]}
    return wire.join(stack["apiUrl"], contract.ROUTE_PREDICT), headers, images.jpeg()


def warm_up(url: str, headers: dict[str, str], body: bytes, count: int) -> None:
    for _ in range(count):
        reply = wire.send(url, body=body, headers=headers)
        assert reply.status == 200, reply.body[:300]
    burst = load.run_load(
        url,
        headers=headers,
        body=body,
        clients=CLIENTS,
        duration_s=WARM_UP_SECONDS,
        max_requests=MAX_REQUESTS,
    )
    assert burst.errors == 0, burst.summary()


def test_short_burst_has_no_errors_and_flat_memory(local_stack: dict[str, Any], id_token: str) -> None:
    url, headers, body = request_for(local_stack, id_token)
    warm_up(url, headers, body, WARM_UP_REQUESTS)
    pids = stack_pids(local_stack)
    result = load.run_load(
        url,
        headers=headers,
        body=body,
        clients=CLIENTS,
        duration_s=DURATION_S,
        max_requests=MAX_REQUESTS,
        watch_pids=pids,
    )
    record("load (short form)", result.summary())
    assert result.requests > CLIENTS, "the load generator barely ran"
    assert result.errors == 0, f"statuses {dict(result.statuses)}, failures {dict(result.failures)}"
    assert pids, "no stack process found to watch"
    growth = result.rss_growth_mib()
    assert growth and all(g < RSS_GROWTH_LIMIT_MIB for g in growth.values()), growth


MIXED_EXCLUDED = {"body_7mb", "body_12mb", "over_handler_limit", "phone_photo_12mp"}  # slow to send
MIXED_ROUNDS = 6


def test_mixed_concurrent_traffic_gets_each_request_its_own_answer(local_stack, id_token) -> None:
    # GIVEN good and bad requests interleaved over 8 concurrent clients, THEN each gets the status
    # its case documents, its own image's scores and its own request id: nothing leaks between them.
    names = [n for n in corpus.NAMES if n not in MIXED_EXCLUDED] * MIXED_ROUNDS
    random.Random(9).shuffle(names)
    auth = {"Authorization": f"Bearer {id_token}", "Origin": local_stack["webUrl"]}

    def send(name: str) -> tuple[str, wire.Reply]:
        case = corpus.build(name)
        url = wire.join(local_stack["apiUrl"], case.path)
        return name, wire.send(url, body=case.body, headers={**case.headers, **auth})

    with ThreadPoolExecutor(CLIENTS) as pool:
        replies = list(pool.map(send, names))
    wrong = [(n, corpus.build(n).status, r.status) for n, r in replies if r.status != corpus.build(n).status]
    assert not wrong, wrong
    # The same image always gets the same probabilities: no answer went to another request.
    scores: dict[str, list[float]] = {}
    for name, reply in replies:
        if reply.status == 200:
            scores.setdefault(name, []).append(reply.json()["probabilities"]["malignant"])
    assert all(max(v) - min(v) < 1e-4 for v in scores.values()), scores
    ids = [r.headers.get(contract.REQUEST_ID_HEADER.lower()) for _, r in replies]
    assert None not in ids and len(set(ids)) == len(ids), "request ids missing or reused"
    record(
        "load (mixed)",
        f"{len(replies)} interleaved good and bad requests at {CLIENTS} clients: all as documented",
    )


BURST_CONNECTIONS = 128
BURST_TIMEOUT_S = 5.0


def test_a_burst_of_new_connections_is_accepted_promptly(local_stack) -> None:
    # GIVEN 128 clients connecting at the same instant (a test runner, a page reload with many
    # tabs, a load test's start), THEN every one gets its /health answer within a few seconds:
    # a short listen backlog would drop connections into multi-second SYN retransmits or resets.
    parts = urlsplit(local_stack["apiUrl"])
    start = threading.Barrier(BURST_CONNECTIONS)
    request = f"GET {contract.ROUTE_HEALTH} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode()

    def one(_: int) -> str:
        start.wait()
        try:
            with socket.create_connection((parts.hostname, parts.port), timeout=BURST_TIMEOUT_S) as conn:
                conn.sendall(request)
                return "ok" if conn.recv(16).startswith(b"HTTP/1.1 200") else "bad answer"
        except OSError as exc:
            return type(exc).__name__

    with ThreadPoolExecutor(BURST_CONNECTIONS) as pool:
        outcomes = Counter(pool.map(one, range(BURST_CONNECTIONS)))
    assert outcomes == {"ok": BURST_CONNECTIONS}, outcomes
