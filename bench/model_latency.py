"""Inference latency of the exported SavedModels, ours vs the seed's, on one 224 px JPEG.

Each model runs in a fresh process through the TF1 session loader (TF Serving's path):
cold = TensorFlow import + load + first call; warm = p50/p95 of single-image calls after
that. Decode and resize happen inside the graph, as on the endpoint. There is no HTTP
hop (nginx/gunicorn/TFS REST add a few ms on a real endpoint). The seed model has
random weights: latency does not depend on their values.
    .venv/bin/python bench/model_latency.py [--calls 60] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from model_common import DATA, REPO, machine, require_shared, write_section

WORK = os.path.join(REPO, ".work", "bench-latency")
SHIPPED = os.path.join(REPO, "models", "default", "model.tar.gz")


def child(saved_model: str, image_path: str, calls: int) -> None:
    """Runs in a fresh interpreter: measure cold start and warm latency, print JSON."""
    t0 = time.perf_counter()
    import numpy as np
    import tensorflow as tf

    t_import = time.perf_counter() - t0
    with open(image_path, "rb") as f:
        blob = f.read()
    sess = tf.compat.v1.Session(graph=tf.Graph())
    t1 = time.perf_counter()
    meta = tf.compat.v1.saved_model.loader.load(sess, ["serve"], saved_model)
    sig = meta.signature_def["serving_default"]
    feed_name, fetch = sig.inputs["image_bytes"].name, sig.outputs["probabilities"].name
    t_load = time.perf_counter() - t1
    t2 = time.perf_counter()
    sess.run(fetch, {feed_name: [blob]})
    t_first = time.perf_counter() - t2
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        sess.run(fetch, {feed_name: [blob]})
        times.append(1000 * (time.perf_counter() - t))
    p50, p95 = np.percentile(times, [50, 95])
    print(
        json.dumps({"import_s": t_import, "load_s": t_load, "first_s": t_first, "p50_ms": p50, "p95_ms": p95})
    )


def prepare() -> dict:
    from lesion_model.architectures import make_model
    from lesion_model.export import export_saved_model, extract

    seed_dir = os.path.join(WORK, "seed", "1")
    if not os.path.isdir(seed_dir):
        export_saved_model(make_model("seed", 180), 180, seed_dir)
    ours_dir = extract(SHIPPED, os.path.join(WORK, "ours"))
    return {"seed (mini-Xception, 180 px)": seed_dir, "ours (MobileNetV2-0.35, 224 px)": ours_dir}


def measure(saved_model: str, image: str, calls: int) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    cmd = [sys.executable, __file__, "--child", saved_model, image, "--calls", str(calls)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--calls", type=int, default=60)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--child", nargs=2, metavar=("SAVED_MODEL", "IMAGE"))
    args = p.parse_args()
    if args.child:
        return child(*args.child, args.calls)
    require_shared()
    image = os.path.join(DATA, "malignant", sorted(os.listdir(os.path.join(DATA, "malignant")))[0])
    models = prepare()
    runs = {name: [] for name in models}
    for _ in range(args.rounds):  # interleaved, best round kept: the neighbours' load varies
        for name, path in models.items():
            runs[name].append(measure(path, image, args.calls))
    best = {name: min(r, key=lambda x: x["p50_ms"]) for name, r in runs.items()}
    body = _report(args, best, models)
    print(body)
    write_section("Model: inference latency (issue 3)", body)


def _size_mb(path: str) -> float:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs) / 1e6


def _report(args, best: dict, models: dict) -> str:
    lines = [
        "| model | SavedModel MB | warm p50 ms | warm p95 ms | cold: import + load + first call (s) |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for name, r in best.items():
        cold = f"{r['import_s']:.2f} + {r['load_s']:.2f} + {r['first_s']:.2f}"
        lines.append(
            f"| {name} | {_size_mb(models[name]):.1f} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {cold} |"
        )
    seed, ours = list(best.values())
    p50, p95 = ours["p50_ms"] / seed["p50_ms"], ours["p95_ms"] / seed["p95_ms"]
    return f"""Command: `.venv/bin/python bench/model_latency.py --calls {args.calls} --rounds {args.rounds}`
Machine: {machine()}. One 224 px isic-dev JPEG, batch 1, session loader, best of {args.rounds}
interleaved rounds.

{chr(10).join(lines)}

Warm p50 ratio ours / seed: {p50:.2f} (p95: {p95:.2f}). The shipped `model.tar.gz` is
{os.path.getsize(SHIPPED) / 1e6:.1f} MB (Keras' exporter stores each weight twice).
"""


if __name__ == "__main__":
    main()
