"""End-to-end latency of the local stack: token check, proxy event, real handler, model server.

    .venv/bin/python bench/e2e_latency.py [--requests 300] [--model models/default/model.tar.gz]

Starts a fresh local stack on free ports (`python -m skinlesion.local.up`), measures the time
from the command to the first successful signed-in prediction, then sends a 224 px JPEG
(tests/data) warm at 1 and 4 concurrent clients, each on its own keep-alive connection, and
reports p50/p95/p99. It also times the model server alone (SageMaker runtime API) to show
what the gateway and handler add. Writes the "Local stack: end-to-end latency" section of
docs/benchmarks.md. Goals: p50 <= 50 ms and p99 <= 150 ms at 4 concurrent; first answer <= 30 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from skinlesion.local import idp
from skinlesion.local.httpbase import free_ports

REPO = Path(__file__).resolve().parents[1]
IMAGE = REPO / "tests" / "data" / "ISIC_0024400_melanoma.jpg"
DOC = REPO / "docs" / "benchmarks.md"
SECTION = "## Local stack: end-to-end latency (issue 6)"


def start_stack(model: Path, workdir: Path, batching: bool) -> tuple[subprocess.Popen, dict, float, float]:
    """(process, stack.json, seconds to stack.json, seconds to this client's first 200)."""
    web, api, model_port, cognito = free_ports(4)
    state_file = workdir / "stack.json"
    command = [sys.executable, "-m", "skinlesion.local.up", "--model", str(model)]
    command += ["--state-file", str(state_file), "--web-port", str(web), "--api-port", str(api)]
    command += ["--model-port", str(model_port), "--cognito-port", str(cognito)]
    command += [] if batching else ["--no-batching"]
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not state_file.exists():
        if process.poll() is not None or time.monotonic() - started > 300:
            raise SystemExit(f"the local stack did not start (exit {process.returncode}); see {workdir}")
        time.sleep(0.05)
    ready = time.monotonic() - started
    state = json.loads(state_file.read_text())
    token = sign_in(state)
    response = predict(requests.Session(), state, token)
    if response.status_code != 200:
        raise SystemExit(f"first prediction failed: {response.status_code} {response.text}")
    return process, state, ready, time.monotonic() - started


def sign_in(state: dict) -> str:
    result = idp.sign_in(
        state["cognitoEndpoint"], state["userPoolClientId"], state["username"], state["password"]
    )
    return result["IdToken"]


def predict(session: requests.Session, state: dict, token: str) -> requests.Response:
    headers = {"Content-Type": "image/jpeg", "Authorization": f"Bearer {token}"}
    return session.post(f"{state['apiUrl']}/predict", data=IMAGE.read_bytes(), headers=headers, timeout=30)


def invoke_model(session: requests.Session, state: dict) -> requests.Response:
    url = f"{state['modelServerUrl']}/endpoints/{state['endpointName']}/invocations"
    return session.post(
        url, data=IMAGE.read_bytes(), headers={"Content-Type": "application/x-image"}, timeout=30
    )


def measure(call, total: int, concurrency: int) -> dict:
    """Latencies (ms) of `total` calls spread over `concurrency` clients, after a warm-up each."""
    per_client = total // concurrency

    def client(_: int) -> list[float]:
        session = requests.Session()
        for _ in range(5):
            call(session)
        times = []
        for _ in range(per_client):
            start = time.perf_counter()
            response = call(session)
            times.append((time.perf_counter() - start) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"request failed: {response.status_code} {response.text}")
        return times

    wall = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        times = [t for chunk in pool.map(client, range(concurrency)) for t in chunk]
    wall = time.perf_counter() - wall
    q = statistics.quantiles(times, n=100, method="inclusive")
    return {"n": len(times), "p50": q[49], "p95": q[94], "p99": q[98], "rps": len(times) / wall}


def render(results: dict) -> str:
    rows = [
        f"| {name} | {r['n']} | {r['p50']:.1f} | {r['p95']:.1f} | {r['p99']:.1f} | {r['rps']:.0f} |"
        for name, r in results["latency"].items()
    ]
    p4 = results["latency"]["gateway, 4 clients"]
    gw, ms = results["latency"]["gateway, 1 client"], results["latency"]["model server, 1 client"]
    overhead = (
        f"At 1 client the gateway path (token check, event, handler, boto3) adds {gw['p50'] - ms['p50']:.1f}"
        " ms at p50 over the model server alone."
    )
    if results["load1"] > results["cpus"]:
        overhead += (
            f" The load average was above the {results['cpus']} cores, so every number here includes time"
            " spent waiting for a CPU; rerun on a quiet machine for the floor."
        )
    verdict = (
        f"Goals: p50 <= 50 ms ({'met' if p4['p50'] <= 50 else 'missed'}), p99 <= 150 ms "
        f"({'met' if p4['p99'] <= 150 else 'missed'}) at 4 concurrent; first answer <= 30 s "
        f"({'met' if results['first_answer_s'] <= 30 else 'missed'})."
    )
    header = (
        f"Command: `.venv/bin/python bench/e2e_latency.py` ({results['date']}, model "
        f"`{results['model_version']}`, {results['cpus']} CPUs, load average {results['load']} at the start:"
        " the build machine is shared by several jobs)."
    )
    batching = "on (the `skinlesion up` default)" if results["batching"] else "off (`--no-batching`)"
    lines = [
        SECTION,
        header,
        "",
        "- Command to ready (stack.json written, after its own signed-in prediction): "
        f"**{results['ready_s']:.1f} s**",
        "- Command to this client's first successful prediction (sign-in included): "
        f"**{results['first_answer_s']:.1f} s**",
        "",
        "Warm latency, one 224 px JPEG (14.7 KB, `tests/data/ISIC_0024400_melanoma.jpg`) per request,",
        'each client on its own keep-alive connection. "gateway" is the whole path: JWT check against',
        "the JWKS, proxy event, the real Powertools handler (validation, boto3 `InvokeEndpoint`), the",
        'model server (inference.py + SavedModel). "model server" is `InvokeEndpoint` alone.',
        f"Request batching in the model server: {batching}.",
        "",
        "| path | requests | p50 ms | p95 ms | p99 ms | req/s |",
        "| --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
        overhead,
        "",
        verdict,
        "",
    ]
    return "\n".join(lines)


def write_section(text: str) -> None:
    doc = DOC.read_text()
    start = doc.index(SECTION)
    end = doc.find("\n## ", start + len(SECTION))
    rest = doc[end + 1 :] if end != -1 else ""
    DOC.write_text(doc[:start] + text.rstrip("\n") + ("\n\n" + rest if rest else "\n"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--requests", type=int, default=300, help="measured requests per run (default: %(default)s)"
    )
    parser.add_argument("--model", type=Path, default=REPO / "models" / "default" / "model.tar.gz")
    parser.add_argument("--no-batching", dest="batching", action="store_false", help="unbatched model")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    load_start = os.getloadavg()[0]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="skinlesion-bench-") as workdir:
        process, state, ready_s, first_s = start_stack(args.model, Path(workdir), args.batching)
        try:
            token = sign_in(state)
            latency = {
                "gateway, 1 client": measure(lambda s: predict(s, state, token), args.requests, 1),
                "gateway, 4 clients": measure(lambda s: predict(s, state, token), args.requests, 4),
                "model server, 1 client": measure(lambda s: invoke_model(s, state), args.requests, 1),
                "model server, 4 clients": measure(lambda s: invoke_model(s, state), args.requests, 4),
            }
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
    results = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "model_version": state["modelVersion"],
        "cpus": os.cpu_count(),
        "load": load,
        "load1": load_start,
        "batching": args.batching,
        "machine": platform.machine(),
        "ready_s": ready_s,
        "first_answer_s": first_s,
        "latency": latency,
    }
    text = render(results)
    print(text)
    if not args.no_write:
        write_section(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
