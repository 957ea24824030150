"""Refit the not-a-lesion guard of an existing artifact without retraining the model.

    python model_src/refit_guard.py --artifact models/default/model.tar.gz \\
        --data ../shared/data --out models/default/model.tar.gz        (make refit-default-guard)

By default the guard is the one train.py fits (`train._fit_guard` with the artifact's
--freeze-through): with the packaged negatives and clinical part when the model's frozen layers
compute them as when they were made, else the lesion-only guard. `--backbone-layer NAME` (or
`none`: the top features) fits the lesion-only Mahalanobis guard on that layer instead. So a
release of the guard's packaged data reaches a model without training it again.

The Keras model is rebuilt from the artifact (architecture code + its SavedModel variables,
evaluate_guard.keras_model_from_artifact) and checked against the artifact: the probabilities
of the rebuilt export must equal the old ones (max |dp| < 1e-5) on real images, or nothing is
written. The lesion split is train.py's (same loader, deduplication and seed, read from the
metadata's hyperparameters), so the guard is fitted on the training lesions and thresholded on
the validation lesions; the test lesions stay unseen. metadata.json is kept except "guard".
"""

from __future__ import annotations

import argparse
import datetime
import logging
import os
import sys
import tempfile

import numpy as np

log = logging.getLogger("refit_guard")


def split_argv(
    data: str, arch: str, size: int, seed: int, val_fraction: float, test_fraction: float, *extra: str
) -> list[str]:
    """train.py arguments that rebuild its lesion split over both sources of `data` (its loader,
    deduplication and split); `extra` adds more (e.g. the deduplication thresholds)."""
    roots = ",".join(os.path.join(data, s) for s in ("isic-dev", "isic-2017"))
    return [
        "--train", roots, "--arch", arch, "--image-size", str(size), "--seed", str(seed),
        "--val-fraction", str(val_fraction), "--test-fraction", str(test_fraction), *extra,
    ]  # fmt: skip


def split_args(meta: dict, data: str) -> list[str]:
    """split_argv for the split an artifact was trained on (its metadata.json)."""
    hp = meta["training"]["hyperparameters"]
    return split_argv(
        data, meta["arch"], meta["input_size"], hp["seed"], hp["val_fraction"], hp["test_fraction"],
        "--dedup-distance", str(hp["dedup_distance"]), "--dedup-correlation", str(hp["dedup_correlation"]),
    )  # fmt: skip


def probabilities(saved_model_dir: str, blobs: list[bytes]) -> np.ndarray:
    import tensorflow as tf

    session = tf.compat.v1.Session(graph=tf.Graph())
    graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], saved_model_dir)
    sig = graph.signature_def["serving_default"]
    return session.run(sig.outputs["probabilities"].name, {sig.inputs["image_bytes"].name: blobs})


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--artifact", required=True)
    p.add_argument("--data", default=os.path.join("..", "shared", "data"))
    p.add_argument("--out", required=True, help="model.tar.gz to write (may be --artifact)")
    p.add_argument(
        "--backbone-layer", default="",
        help="lesion-only guard on this backbone layer ('none': top features); default: train.py's guard",
    )  # fmt: skip
    p.add_argument("--margin", type=float, default=None)
    p.add_argument("--check-images", type=int, default=24)
    args = p.parse_args(argv)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import train
    from evaluate_guard import keras_model_from_artifact, lesion_files, read
    from lesion_model import guard as guard_module
    from lesion_model.export import extract, make_tarball, read_metadata, write_artifact_dir

    meta = read_metadata(args.artifact)
    with tempfile.TemporaryDirectory() as tmp:
        old = extract(args.artifact, os.path.join(tmp, "old"))
        model = keras_model_from_artifact(old, meta)
        hp = meta["training"]["hyperparameters"]
        train_args = train.parse_args(
            split_args(meta, args.data)
            + ["--freeze-through", hp.get("freeze_through") or "none"]
            + ([] if args.margin is None else ["--guard-margin", str(args.margin)])
        )
        parts, _ = train.load_parts(train_args)
        if args.backbone_layer:
            layer = None if args.backbone_layer == "none" else args.backbone_layer
            extra = {} if args.margin is None else {"margin": args.margin}
            guard = guard_module.fit_guard(
                model, parts["train"].images, parts["val"].images, backbone_layer=layer, **extra
            )
        else:
            guard = train._fit_guard(train_args, model, parts)
        log.info("guard: %s", guard.summary())
        guard.info["refitted"] = {
            "at": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "by": "model_src/refit_guard.py (the classifier's weights unchanged)",
        }
        new_meta = {**meta, "guard": guard.metadata()}
        out_dir = os.path.join(tmp, "new")
        write_artifact_dir(model, int(meta["input_size"]), out_dir, new_meta,
                           os.path.join(tmp, "old", "report"), guard=guard)  # fmt: skip
        n = args.check_images // 2
        blobs = [
            read(f) for s in ("isic-dev", "isic-2017") for f in lesion_files(os.path.join(args.data, s))[:n]
        ]
        dp = float(
            np.max(
                np.abs(probabilities(old, blobs) - probabilities(os.path.join(out_dir, "model", "1"), blobs))
            )
        )
        log.info("probabilities, rebuilt vs artifact, %d images: max |dp| = %.3g", len(blobs), dp)
        if not dp < 1e-5:
            raise SystemExit(f"rebuilt model differs from the artifact (max |dp| {dp:.3g}): nothing written")
        make_tarball(out_dir, args.out)
    log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
