"""Model latency with and without the not-a-lesion guard (issue 14 goal: at most +10 %).

The same MobileNetV2-0.35 (224 px) is exported twice, once as before (probabilities only) and
once with the guard (probabilities + lesion_score, guard fitted on generated images: latency
does not depend on the weights' or the guard's values). Each round is a fresh process that loads
both through the TF1 session loader (TF Serving's path) and alternates single-image calls
between them (one 224 px JPEG, batch 1, every output of the signature fetched), so load from
other jobs hits both alike; the table shows each export's best round, the ratio is the median of
the rounds' p50 ratios.
    .venv/bin/python bench/guard_latency.py [--calls 100] [--rounds 3]
Needs no ../shared data (the JPEG is tests/data's).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from model_common import REPO, machine

WORK = os.path.join(REPO, ".work", "bench-guard")
IMAGE = os.path.join(REPO, "tests", "data", "ISIC_0024400_melanoma.jpg")


def child(paths: list[str], image_path: str, calls: int) -> None:
    """Fresh interpreter: load every export like TF Serving, warm up, then time single-image calls
    alternating between them (A, B, A, B, ...), so load from other jobs hits both alike; print JSON."""
    import numpy as np
    import tensorflow as tf

    with open(image_path, "rb") as f:
        blob = f.read()
    runs = []
    for path in paths:
        sess = tf.compat.v1.Session(graph=tf.Graph())
        sig = tf.compat.v1.saved_model.loader.load(sess, ["serve"], path).signature_def["serving_default"]
        fetches = [sig.outputs[k].name for k in sorted(sig.outputs)]
        runs.append((sess, fetches, {sig.inputs["image_bytes"].name: [blob]}, sorted(sig.outputs)))
    for sess, fetches, feed, _ in runs:
        for _ in range(10):
            sess.run(fetches, feed)
    times: list[list[float]] = [[] for _ in runs]
    for _ in range(calls):
        for i, (sess, fetches, feed, _) in enumerate(runs):
            t = time.perf_counter()
            sess.run(fetches, feed)
            times[i].append(1000 * (time.perf_counter() - t))
    result = []
    for (_, _, _, outputs), t in zip(runs, times, strict=True):
        p50, p95 = np.percentile(t, [50, 95])
        result.append({"outputs": outputs, "p50_ms": p50, "p95_ms": p95})
    print(json.dumps(result))


def prepare() -> dict[str, str]:
    import keras
    import numpy as np
    from lesion_model.architectures import make_model
    from lesion_model.export import export_saved_model
    from lesion_model.guard import LAYER_PARTS, NEGATIVES_LAYER, extract_features, fit_guard_with_negatives

    keras.utils.set_random_seed(0)
    model = make_model("mobilenet_v2", 224, None)
    rng = np.random.default_rng(0)
    images = np.clip(rng.normal(150, 40, (160, 224, 224, 3)), 0, 255).astype(np.uint8)
    others = np.clip(rng.normal(90, 60, (40, 224, 224, 3)), 0, 255).astype(np.uint8)
    # The guard train.py fits by default: three linear parts on guard.NEGATIVES_LAYER's statistics
    # (photo, quality, clinical; the graph computes them in one matrix product).
    found = extract_features(model, others, 20, NEGATIVES_LAYER)
    clinical = extract_features(model, others[::-1], 20, NEGATIVES_LAYER)
    guard = fit_guard_with_negatives(
        model, images[:120], images[120:], {k: found[k] for k in LAYER_PARTS}, quality_images=60,
        clinical={k: clinical[k] for k in LAYER_PARTS},
    )  # fmt: skip
    paths = {
        "without guard": os.path.join(WORK, "plain", "1"),
        "with guard": os.path.join(WORK, "guard", "1"),
    }
    export_saved_model(model, 224, paths["without guard"])
    export_saved_model(model, 224, paths["with guard"], guard)
    return paths


def measure(paths: list[str], calls: int) -> list[dict]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    cmd = [sys.executable, __file__, "--child", *paths, "--image", IMAGE, "--calls", str(calls)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--calls", type=int, default=100)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--child", nargs="+", metavar="SAVED_MODEL", help=argparse.SUPPRESS)
    p.add_argument("--image", default=IMAGE, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args.child, args.image, args.calls)
        return 0
    paths = prepare()
    best: dict[str, dict] = {}
    ratios = []
    for _ in range(args.rounds):
        results = dict(zip(paths, measure(list(paths.values()), args.calls), strict=True))
        ratios.append(results["with guard"]["p50_ms"] / results["without guard"]["p50_ms"])
        for name, result in results.items():
            if name not in best or result["p50_ms"] < best[name]["p50_ms"]:
                best[name] = result
    print(f"Machine: {machine()}")
    print(
        f"One 224 px JPEG ({os.path.basename(IMAGE)}), batch 1, session loader, best of {args.rounds} rounds"
    )
    print("| export | outputs | warm p50 ms | warm p95 ms |\n| --- | --- | ---: | ---: |")
    for name, r in best.items():
        print(f"| {name} | {', '.join(r['outputs'])} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} |")
    ratio = float(sorted(ratios)[len(ratios) // 2])
    print(f"p50 with / without guard, per round: {', '.join(f'{r:.3f}' for r in ratios)}")
    print(f"median of the rounds: {ratio:.3f} (goal <= 1.10: {'met' if ratio <= 1.10 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
