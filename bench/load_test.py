"""Full-form load test of the local stack: 60 s at 16 concurrent clients, capped, loopback only.

    .venv/bin/python bench/load_test.py [--seconds 60] [--clients 16] [--max-requests 20000]
                                        [--model models/default/model.tar.gz | --stack-json PATH]

Starts a fresh local stack on free ports (or drives the one a stack.json names), signs in,
warms up (sequentially, then 10 s at full concurrency: the model server batches), then keeps
`--clients` closed-loop clients posting a real 224 px dermoscopic JPEG (tests/data) to
POST /predict with the ID token until the time is up or the request cap is reached. Reports
errors, p50/p95/p99 and throughput, and the resident memory of the gateway and model-server
processes from after warm-up to the end (flat = no leak). Writes the
"Load (issue 9)" section of docs/benchmarks.md (`--no-write` prints only). Exits 1 on any
error. The generator itself is tests/reliability/load.py, shared with the short-form test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the reliability suite's load generator, as pytest sees it

from reliability import images, load, wire  # noqa: E402 - needs the path above
from reliability.test_load import stack_pids  # noqa: E402

from skinlesion.local.httpbase import free_ports  # noqa: E402

IMAGE = REPO / "tests" / "data" / "ISIC_0024400_melanoma.jpg"
DOC = REPO / "docs" / "benchmarks.md"
SECTION = "## Load (issue 9)"
WARM_UP_REQUESTS = 50
WARM_UP_SECONDS = 10.0  # at full concurrency: the model server's batch sizes get allocated first


def start_stack(model: Path, workdir: Path) -> tuple[subprocess.Popen, dict]:
    """A fresh local stack on free ports; returns its process and stack.json."""
    web, api, model_port, cognito = (str(p) for p in free_ports(4))
    state_file = workdir / "stack.json"
    command = [
        sys.executable,
        "-m",
        "skinlesion.local.up",
        "--model",
        str(model),
        "--state-file",
        str(state_file),
    ]
    command += ["--web-port", web, "--api-port", api, "--model-port", model_port, "--cognito-port", cognito]
    with open(workdir / "up.log", "wb") as log:
        process = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while not state_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(
                f"the local stack did not start (exit {process.returncode}); see {workdir}/up.log"
            )
        time.sleep(0.1)
    return process, json.loads(state_file.read_text())


def run(stack: dict, args: argparse.Namespace) -> load.LoadResult:
    token = wire.sign_in(stack)["IdToken"]
    body = IMAGE.read_bytes() if IMAGE.is_file() else images.jpeg()
    url = wire.join(stack["apiUrl"], "/predict")
    headers = {"Content-Type": "image/jpeg", "Authorization": f"Bearer {token}", "Origin": stack["webUrl"]}
    for _ in range(WARM_UP_REQUESTS):
        reply = wire.send(url, body=body, headers=headers)
        if reply.status != 200:
            raise SystemExit(f"warm-up request failed: {reply.status} {reply.body[:300]!r}")
    burst = load.run_load(
        url, headers=headers, body=body, clients=args.clients, duration_s=WARM_UP_SECONDS, max_requests=10**6
    )
    if burst.errors:
        raise SystemExit(f"warm-up burst failed: {burst.summary()}")
    return load.run_load(
        url,
        headers=headers,
        body=body,
        clients=args.clients,
        duration_s=args.seconds,
        max_requests=args.max_requests,
        watch_pids=stack_pids(stack),
    )


def render(result: load.LoadResult, stack: dict, args: argparse.Namespace, load_avg: str) -> str:
    growth = result.rss_growth_mib()
    memory = "; ".join(
        f"pid {pid}: {samples[0]:.0f} -> {samples[len(samples) // 2]:.0f} -> {samples[-1]:.0f} MiB "
        f"({growth[pid]:+.1f})"
        for pid, samples in result.rss_mib.items()
        if len(samples) >= 2
    )
    rps = result.requests / max(result.duration_s, 1e-9)
    image = IMAGE.name if IMAGE.is_file() else "generated"
    setup = (
        f"Closed loop on loopback: {args.clients} clients, {args.seconds:.0f} s, cap {args.max_requests:,} "
        f"requests; POST /predict with a 224 px JPEG ({image}) through the gateway (token check, proxy "
        f"event, handler) and the model server (model `{stack.get('modelVersion')}`); "
        f"Python {platform.python_version()}; load average before the run: {load_avg}."
    )
    row = (
        f"| {result.requests:,} | {result.errors} | {rps:.1f} req/s | {result.percentile(50):.0f} ms "
        f"| {result.percentile(95):.0f} ms | {result.percentile(99):.0f} ms |"
    )
    return "\n".join(
        [
            SECTION,
            "`.venv/bin/python bench/load_test.py` (full form; short form: tests/reliability/test_load.py).",
            setup,
            "",
            "| requests | errors | throughput | p50 | p95 | p99 |",
            "| --- | --- | --- | --- | --- | --- |",
            row,
            "",
            f"Resident memory after warm-up -> half-way -> end (gateway, model server): {memory or 'n/a'}.",
            "",
        ]
    )


def write_section(text: str) -> None:
    doc = DOC.read_text()
    start = doc.index(SECTION)
    end = doc.find("\n## ", start + len(SECTION))
    DOC.write_text(doc[:start] + text + (doc[end + 1 :] if end != -1 else ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--max-requests", type=int, default=20_000)
    parser.add_argument("--model", type=Path, default=REPO / "models" / "default" / "model.tar.gz")
    parser.add_argument("--stack-json", type=Path, help="drive this running stack instead of starting one")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    load_avg = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="skinlesion-load-") as workdir:
        process = None
        if args.stack_json:
            stack = json.loads(args.stack_json.read_text())
        else:
            process, stack = start_stack(args.model, Path(workdir))
        try:
            result = run(stack, args)
        finally:
            if process is not None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=60)
    text = render(result, stack, args, load_avg)
    print(text)
    print(result.summary())
    if not args.no_write:
        write_section(text)
    return 1 if result.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
