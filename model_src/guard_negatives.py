"""Make the not-a-lesion guard's photo negatives: features, not images (issue 14).

    python model_src/guard_negatives.py --data ../shared/data/not-lesion \\
        --out model_src/lesion_model/data/guard_negatives.npz      (make guard-negatives)

The guard's "photo" part learns lesions against photographs that are not skin lesions. Its input is
the pooled mean and spread of the MobileNetV2 layers guard.NEGATIVES_LAYER (five, joined by "+"),
which train.py keeps frozen at the ImageNet weights (--freeze-through), so the negatives' features
are computed once, here, and ship inside the training code package: the SageMaker job needs no
negative images (and the images, ImageNet samples for research use, are never shipped). Only the
classes of half "A" (evaluate_guard.half) are used: half "B" stays unseen, to measure how the guard
does on kinds of photograph it never saw.

The file holds, per image size: the features ("<size>/layer_mean", "<size>/layer_std"), the
same features of a fixed probe image ("<size>/probe/...": train.py recomputes them and uses
the negatives only if its frozen layer agrees), and "info" (JSON: layer, weights, classes).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

import numpy as np

log = logging.getLogger("guard_negatives")


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.path.join("..", "shared", "data", "not-lesion"))
    p.add_argument("--out", required=True)
    p.add_argument("--sizes", default="192,224", help="image sizes train.py may use")
    p.add_argument("--weights", default="imagenet", help="as train.py's --weights")
    p.add_argument("--half", default="A", help="A, B or all: which classes to use")
    args = p.parse_args(argv)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import tensorflow as tf
    from evaluate_guard import half, read, read_rows
    from lesion_model import pretrained
    from lesion_model.architectures import make_model
    from lesion_model.guard import LAYER_PARTS, NEGATIVES_LAYER, extract_features, probe_image
    from lesion_model.preprocess import decode_and_resize

    rows = [r for r in read_rows(args.data) if args.half == "all" or half(r["class_name"]) == args.half]
    blobs = [read(os.path.join(args.data, r["file"])) for r in rows]
    arrays: dict[str, np.ndarray] = {}
    for size in (int(s) for s in args.sizes.split(",")):
        model = make_model("mobilenet_v2", size, args.weights, head="diagnosis")
        images = np.stack([decode_and_resize(tf.constant(b), size).numpy() for b in blobs])
        found = extract_features(model, images, 32, NEGATIVES_LAYER)
        probe = extract_features(model, probe_image(size), 1, NEGATIVES_LAYER)
        for name in LAYER_PARTS:
            arrays[f"{size}/{name}"] = found[name].astype(np.float32)
            arrays[f"{size}/probe/{name}"] = probe[name].astype(np.float32)
        log.info(
            "size %d: %d negatives, %d features per part", size, len(images), found[LAYER_PARTS[0]].shape[1]
        )
    weights = pretrained.resolve(args.weights) if args.weights not in ("none", "") else None
    info = {
        "layer": NEGATIVES_LAYER,
        "parts": list(LAYER_PARTS),
        "weights": os.path.basename(weights) if weights else None,
        "weights_sha256": pretrained.sha256_of(weights) if weights else None,
        "source": "not-lesion (ImageNet sample images, one per class; research use): features only",
        "half": args.half,
        "classes": sorted(r["class_name"] for r in rows),
        "command": "python model_src/guard_negatives.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    np.savez_compressed(args.out, info=np.array(json.dumps(info)), **arrays)
    log.info("wrote %s (%.1f MB)", args.out, os.path.getsize(args.out) / 1e6)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
