"""Score a labelled folder with a model artifact, through the exported serving signature.

Feeds the original file bytes to `serving_default`, exactly what the endpoint receives,
so the numbers include the in-graph decode and resize. The operating threshold is the
artifact's own (chosen on its validation split), unless --threshold overrides it.

    python model_src/evaluate.py --artifact models/default/model.tar.gz \\
        --data ../shared/data/isic-dev --output-dir /tmp/eval
Writes metrics.json, roc_curve.png and confusion_matrix.png to --output-dir.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile

import numpy as np
import tensorflow as tf
from lesion_model import data
from lesion_model.export import INPUT_KEY, OUTPUT_KEY, SIGNATURE, extract, read_metadata
from lesion_model.metrics import binary_metrics, roc_curve
from lesion_model.report import write_report

log = logging.getLogger("evaluate")


def load_artifact(path: str, workdir: str) -> tuple[object, dict]:
    """(serving function, metadata) from a model.tar.gz or an unpacked artifact directory."""
    if os.path.isdir(path):
        saved_model = os.path.join(path, "model", "1")
        with open(os.path.join(path, "metadata.json")) as f:
            metadata = json.load(f)
    else:
        metadata = read_metadata(path)
        saved_model = extract(path, workdir)
    loaded = tf.saved_model.load(saved_model)
    return loaded.signatures[SIGNATURE], metadata


def predict_files(serve, paths, batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """p_malignant per file (NaN for files the graph cannot decode) and a mask of scored files."""
    scores = np.full(len(paths), np.nan)
    for start in range(0, len(paths), batch_size):
        chunk = list(paths[start : start + batch_size])
        blobs = [tf.io.read_file(p) for p in chunk]
        try:
            probs = serve(**{INPUT_KEY: tf.stack(blobs)})[OUTPUT_KEY].numpy()
            scores[start : start + len(chunk)] = probs[:, 1]
        except tf.errors.InvalidArgumentError:
            # One bad file fails the whole batch: retry one by one to find it.
            for i, blob in enumerate(blobs):
                try:
                    scores[start + i] = serve(**{INPUT_KEY: tf.reshape(blob, [1])})[OUTPUT_KEY].numpy()[0, 1]
                except tf.errors.InvalidArgumentError:
                    log.warning("cannot decode %s: skipped", chunk[i])
    return scores, ~np.isnan(scores)


def evaluate(artifact: str, data_dir: str, output_dir: str, threshold: float | None = None) -> dict:
    """Score every image under data_dir/{benign,malignant}; write metrics.json and plots."""
    split = data.list_folder_dataset(data_dir)
    with tempfile.TemporaryDirectory() as workdir:
        serve, metadata = load_artifact(artifact, workdir)
        scores, ok = predict_files(serve, split.paths)
    labels = np.asarray(split.labels)[ok]
    chosen = float(metadata["threshold"] if threshold is None else threshold)
    metrics = binary_metrics(labels, scores[ok], chosen)
    metrics.update(
        skipped_unreadable=int((~ok).sum()),
        data=os.path.abspath(data_dir),
        model_version=metadata.get("version"),
        arch=metadata.get("arch"),
        threshold_source="artifact (validation split)" if threshold is None else "command line",
    )
    write_report(output_dir, metrics, roc=roc_curve(labels, scores[ok]))
    return metrics


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--artifact", required=True, help="model.tar.gz or an unpacked artifact directory")
    p.add_argument("--data", required=True, help="folder with benign/ and malignant/")
    p.add_argument("--output-dir", required=True)
    p.add_argument("--threshold", type=float, help="override the artifact's threshold")
    args, _ = p.parse_known_args(argv)
    metrics = evaluate(args.artifact, args.data, args.output_dir, args.threshold)
    keys = ("n", "roc_auc", "pr_auc", "balanced_accuracy", "sensitivity", "specificity", "threshold")
    print(json.dumps({k: metrics[k] for k in keys}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
