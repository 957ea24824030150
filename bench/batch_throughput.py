"""`skinlesion batch` local mode: images per second with 1 worker (one sequential client) vs 4.

    nice -n 15 .venv/bin/python bench/batch_throughput.py [--images 200] [--rounds 2] [--workers 1,4,8]
        [--stack-file .local/stack.json]   # a running local stack; default: start a fresh one

The same images (isic-dev JPEGs from ../shared when present, else tests/data's three
repeated) are scored through the local stack's API by the batch scorer (sign-in, one
session per worker, retries), once per worker count per round, alternating 1 and 4 so a
burst of load from elsewhere hits both. Each run writes a fresh results file, as
`skinlesion batch` does. Reports images/s (best and median of the rounds), the ratio, the
client's own CPU time per image and the 1-minute load average before and after.
Goal (issue 17): 4 workers >= 2x one worker.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from skinlesion.auth import build_provider
from skinlesion.batch_local import Scorer, list_images, score_all
from skinlesion.batch_output import ResultsFile, Row
from skinlesion.local.httpbase import free_ports
from skinlesion.targets import from_stack_file

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "isic-dev"
MODEL = REPO / "models" / "default" / "model.tar.gz"


def prepare_images(folder: Path, count: int) -> str:
    """`count` JPEGs under folder/benign and folder/malignant; says where they came from."""
    sources = sorted(SHARED.glob("*/*.jpg")) if SHARED.is_dir() else []
    origin = f"{SHARED} (first {count}, both classes)"
    if not sources:
        sources, origin = sorted((REPO / "tests" / "data").glob("*.jpg")), "tests/data (3 images, repeated)"
    per_class: dict[str, list[Path]] = {}
    for path in sources:
        per_class.setdefault(path.parent.name if SHARED.is_dir() else "malignant", []).append(path)
    picked: list[Path] = []
    i = 0
    while len(picked) < count:  # alternate classes; repeat when there are fewer files than asked
        for files in per_class.values():
            if len(picked) < count:
                picked.append(files[i % len(files)])
        i += 1
    for n, path in enumerate(picked):
        target = folder / (path.parent.name if SHARED.is_dir() else "images") / f"{n:05d}_{path.name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    return origin


def start_stack(workdir: Path) -> tuple[subprocess.Popen, Path]:
    web, api, model_port, cognito = free_ports(4)
    state = workdir / "stack.json"
    command = [sys.executable, "-m", "skinlesion.local.up", "--model", str(MODEL), "--state-file", str(state)]
    command += ["--web-port", str(web), "--api-port", str(api), "--model-port", str(model_port)]
    command += ["--cognito-port", str(cognito)]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not state.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the local stack did not start (exit {process.returncode})")
        time.sleep(0.2)
    return process, state


def one_run(scorer: Scorer, files: list[str], workers: int, out: Path) -> tuple[float, float, int]:
    """(wall seconds, this process's CPU seconds, error rows) to score every file into a fresh file."""
    out.unlink(missing_ok=True)
    results = ResultsFile(out)
    results.open()
    started, cpu = time.monotonic(), time.process_time()
    rows: list[Row] = []

    def sink(row: Row) -> None:
        results.write(row)
        rows.append(row)

    score_all(scorer, files, workers, sink)
    seconds, cpu = time.monotonic() - started, time.process_time() - cpu
    errors = sum(bool(row.error_code) for row in rows)
    results.close()
    return seconds, cpu, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", default="1,4", help="worker counts to compare (1 and 4 always run)")
    parser.add_argument("--stack-file", type=Path, help="a running local stack (default: start one)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="batch-bench-"))
    process = None
    try:
        stack_file = args.stack_file
        if stack_file is None:
            process, stack_file = start_stack(work)
        target = from_stack_file(stack_file)
        tokens = build_provider(target, username=None, password=None, token=None, use_cache=False)
        origin = prepare_images(work / "images", args.images)
        files = list_images(work / "images")
        assert target.api_url is not None
        scorer = Scorer(work / "images", target.api_url, tokens)
        load_before = os.getloadavg()[0]
        one_run(scorer, files[:20], 4, work / "warm.csv")  # warm: sign-in, connections, the model
        counts = sorted({1, 4, *(int(n) for n in args.workers.split(","))})
        rates: dict[int, list[float]] = {n: [] for n in counts}
        client_ms: dict[int, list[float]] = {n: [] for n in counts}
        for _ in range(args.rounds):
            for workers in counts:
                seconds, cpu, errors = one_run(scorer, files, workers, work / f"w{workers}.csv")
                client_ms[workers].append(1000 * cpu / len(files))
                if errors:
                    raise SystemExit(f"{errors} errors with {workers} workers: see {work}/w{workers}.csv")
                rates[workers].append(len(files) / seconds)
        load_after = os.getloadavg()[0]
    finally:
        if process is not None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    best = {w: max(r) for w, r in rates.items()}
    report = {
        "images": len(files),
        "source": origin,
        "rounds": args.rounds,
        "images_per_s": {
            w: {"best": round(best[w], 1), "median": round(statistics.median(r), 1)} for w, r in rates.items()
        },
        "client_cpu_ms_per_image": {w: round(statistics.median(ms), 2) for w, ms in client_ms.items()},
        "ratio_4_to_1": round(best[4] / best[1], 2),
        "goal_met": best[4] >= 2 * best[1],
        "load_avg_1min": {"before": round(load_before, 2), "after": round(load_after, 2)},
        "cpus": os.cpu_count(),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
