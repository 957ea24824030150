"""Fit the not-a-lesion guard's "clinical" part once: lesions against clinical photographs of skin.

    python model_src/guard_clinical.py --data ../shared/data \\
        --out model_src/lesion_model/data/guard_clinical.npz      (make guard-clinical)

Clinical photographs (rashes, eczema, infections: taken with a camera, not a dermatoscope) are
skin, lit and framed like skin, and the "photo" part, fitted on photographs that are not skin,
lets most of them through (docs/model.md). This part learns them directly from the conditions of
half "A" of `clinical-skin` (evaluate_guard.half, by condition; half "B" stays unseen, to measure
how it does on conditions it never saw), against the lesions of every lesion source with their
rotated, mirrored and reframed copies and copies with hair, colour stickers or ink drawn on
(guard.positive_features), on the same frozen ImageNet layers as the other parts (guard.NEGATIVES_LAYER).

Only the lesions of train.py's training split (`--positives train-split`, the split of `make
train-default-model`) are positives: train.py sets the guard's threshold on its validation lesions,
and a part fitted on them scores them too well, so the threshold came out low (measured: a guard
fitted on isic-dev refused 8.1 % of isic-2017's lesions instead of 2.3 % on one split, docs/model.md).
The file lists the ids of the lesions it was fitted on; train.py records how many of its own
validation and test lesions are among them (0 for the default split).

Every photograph carries the collection's watermark in its bottom-left corner (the DermNet logo or
"Te Whatu Ora"), and a part fitted on the photographs as they are learns the watermark: it refused
98.7 % of held-out photographs but 8 % of their watermark-free centres (docs/model.md). So the part
is fitted on `watermark_free_views` only, crops that never show that corner, and evaluate_guard.py
reports held-out photographs both as they are and without the watermark.

Licence: the clinical photographs are DermNet NZ images under CC BY-NC-ND 3.0 NZ, given to this
project to build and check the guard and never to be shipped. What this writes is one linear
direction per image size (the weights and bias of a logistic regression, 1,633 numbers) and the
probe image's features: no photograph, and no feature of any one photograph. train.py adds the part
when its frozen layer computes the probe's features as recorded (the SageMaker job included), and
records the attribution in metadata.json. `train.py --guard-clinical none` leaves it out.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

import numpy as np

log = logging.getLogger("guard_clinical")

SOURCE = (
    "clinical-skin: DermNet NZ clinical photographs (CC BY-NC-ND 3.0 NZ, attribution: DermNet, "
    "dermnetnz.org), conditions of half A; fitted weights only, no image or per-image feature"
)


# Crops (left, top, right, bottom as fractions of the photo) that never include the bottom-left
# corner where the collection's watermark sits (x < 0.38 and y > 0.68).
WATERMARK_FREE_BOXES = (
    (0.0, 0.0, 1.0, 0.68),  # the top two thirds, full width
    (0.38, 0.0, 1.0, 1.0),  # the right part, full height
    (0.4, 0.0, 1.0, 0.75),  # top right, three quarters high
    (0.0, 0.0, 0.6, 0.6),  # top left
    (0.4, 0.3, 1.0, 1.0),  # bottom right
    (0.2, 0.1, 0.8, 0.65),  # upper centre
)


def watermark_free_views(blob: bytes) -> list[bytes]:
    """JPEG crops of one photograph (WATERMARK_FREE_BOXES, the first one also mirrored)."""
    import io

    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(blob)) as opened:
        image = opened.convert("RGB")
    w, h = image.size
    crops = [
        image.crop((round(a * w), round(b * h), round(c * w), round(d * h)))
        for a, b, c, d in WATERMARK_FREE_BOXES
    ]
    crops.append(ImageOps.mirror(crops[0]))
    out = []
    for crop in crops:
        buffer = io.BytesIO()
        crop.save(buffer, "JPEG", quality=90)
        out.append(buffer.getvalue())
    return out


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.path.join("..", "shared", "data"))
    p.add_argument("--out", required=True)
    p.add_argument("--sizes", default="192,224", help="image sizes train.py may use")
    p.add_argument("--weights", default="imagenet", help="as train.py's --weights")
    p.add_argument("--half", default="A", help="A, B or all: which conditions to fit on")
    p.add_argument(
        "--positives", choices=("train-split", "all"), default="train-split",
        help="train-split: only the lesions train.py trains on with the split below (make "
        "train-default-model's), so that the validation lesions that set the guard's threshold and "
        "the test lesions stay unseen; all: every lesion",
    )  # fmt: skip
    p.add_argument("--val-fraction", type=float, default=0.2, help="as train.py's (train-split)")
    p.add_argument("--test-fraction", type=float, default=0.15, help="as train.py's (train-split)")
    p.add_argument("--seed", type=int, default=1337, help="as train.py's (train-split)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args = parse_args(argv)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from evaluate_guard import LESION_SOURCES, decode_blobs, half, read, read_rows
    from lesion_model import pretrained
    from lesion_model.architectures import make_model
    from lesion_model.guard import (
        CLINICAL,
        DEFAULT_L2,
        LAYER_PARTS,
        NEGATIVES_LAYER,
        LinearPart,
        extract_features,
        positive_features,
        probe_image,
        save_clinical,
    )

    folder = os.path.join(args.data, "clinical-skin")
    rows = [r for r in read_rows(folder) if args.half == "all" or half(r["condition"]) == args.half]
    if len(rows) < 2:
        raise SystemExit(f"{folder}: fewer than 2 photographs in half {args.half}")
    views = [v for r in rows for v in watermark_free_views(read(os.path.join(folder, r["file"])))]
    by_size, fitted_on = {}, {}
    for size in (int(s) for s in args.sizes.split(",")):
        model = make_model("mobilenet_v2", size, args.weights, head="diagnosis")
        found = extract_features(model, decode_blobs(views, size), 32, NEGATIVES_LAYER)
        negatives = np.concatenate([found[name] for name in LAYER_PARTS], axis=1)
        images, fitted_on[size] = _lesions(args, size)
        positives = positive_features(model, images, 32, NEGATIVES_LAYER)
        part = LinearPart.fit(CLINICAL, LAYER_PARTS, positives, negatives, DEFAULT_L2)
        by_size[size] = (part, extract_features(model, probe_image(size), 1, NEGATIVES_LAYER))
        log.info(
            "size %d: %d lesion views of %d lesions against %d watermark-free views of %d clinical "
            "photographs", size, len(positives), len(images), len(negatives), len(rows),
        )  # fmt: skip
    weights = pretrained.resolve(args.weights) if args.weights not in ("none", "") else None
    info = {
        "layer": NEGATIVES_LAYER,
        "parts": list(LAYER_PARTS),
        "l2": DEFAULT_L2,
        "weights": os.path.basename(weights) if weights else None,
        "weights_sha256": pretrained.sha256_of(weights) if weights else None,
        "source": SOURCE,
        "half": args.half,
        "n_photographs": len(rows),
        "views": f"{len(views)} watermark-free crops (WATERMARK_FREE_BOXES, the first also mirrored)",
        "n_conditions": len({r["condition"] for r in rows}),
        "positives": (
            f"{_count(fitted_on)} lesions of {', '.join(LESION_SOURCES)} "
            + (
                f"(train.py's training split: seed {args.seed}, val fraction {args.val_fraction}, test "
                f"fraction {args.test_fraction}; their ids per size in the file) "
                if args.positives == "train-split"
                else "(all of them, after deduplication) "
            )
            + "and their rotated, mirrored, reframed copies and copies with hair, colour stickers or "
            "ink drawn on"
        ),
        "command": "python model_src/guard_clinical.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    save_clinical(args.out, by_size, info, positives=fitted_on)
    log.info("wrote %s (%.1f kB)", args.out, os.path.getsize(args.out) / 1e3)
    return 0


def _count(fitted_on: dict[int, list[str]]) -> str:
    """How many lesions the part was fitted on: one number, or a range when the sizes differ
    (deduplication works on the decoded images)."""
    low, high = min(map(len, fitted_on.values())), max(map(len, fitted_on.values()))
    return f"{low:,}" if low == high else f"{low:,}-{high:,}"


def _lesions(args, size: int) -> tuple[np.ndarray, list[str]]:
    """The lesions the part is fitted on at `size` (uint8 [N, size, size, 3]) and their ids
    (guard.lesion_ids): train.py's training split (its decoding, deduplication and split, exactly
    as `load_parts` makes them for these fractions and seed) or, with --positives all, every lesion."""
    import train
    from lesion_model.guard import lesion_ids
    from refit_guard import split_argv

    argv = split_argv(args.data, "mobilenet_v2", size, args.seed, args.val_fraction, args.test_fraction)
    parts, _ = train.load_parts(train.parse_args(argv))
    if args.positives == "all":
        chosen = list(parts.values())
        images = np.concatenate([part.images for part in chosen])
        ids = [i for part in chosen for i in lesion_ids(part.split.paths, part.split.sources)]
        return images, ids
    part = parts["train"]
    return part.images, lesion_ids(part.split.paths, part.split.sources)


if __name__ == "__main__":
    raise SystemExit(main())
