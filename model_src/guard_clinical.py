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


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.path.join("..", "shared", "data"))
    p.add_argument("--out", required=True)
    p.add_argument("--sizes", default="192,224", help="image sizes train.py may use")
    p.add_argument("--weights", default="imagenet", help="as train.py's --weights")
    p.add_argument("--half", default="A", help="A, B or all: which conditions to fit on")
    args = p.parse_args(argv)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from evaluate_guard import LESION_SOURCES, decode_blobs, half, lesion_files, read, read_rows
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
    lesions = [f for s in LESION_SOURCES for f in lesion_files(os.path.join(args.data, s))]
    lesion_blobs = [read(f) for f in lesions]  # read once, decoded at each size
    by_size = {}
    for size in (int(s) for s in args.sizes.split(",")):
        model = make_model("mobilenet_v2", size, args.weights, head="diagnosis")
        found = extract_features(model, decode_blobs(views, size), 32, NEGATIVES_LAYER)
        negatives = np.concatenate([found[name] for name in LAYER_PARTS], axis=1)
        positives = positive_features(model, decode_blobs(lesion_blobs, size), 32, NEGATIVES_LAYER)
        part = LinearPart.fit(CLINICAL, LAYER_PARTS, positives, negatives, DEFAULT_L2)
        by_size[size] = (part, extract_features(model, probe_image(size), 1, NEGATIVES_LAYER))
        log.info(
            "size %d: %d lesion views against %d watermark-free views of %d clinical photographs",
            size, len(positives), len(negatives), len(rows),
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
        "positives": f"{len(lesions)} lesions of {', '.join(LESION_SOURCES)} and their rotated, mirrored, "
        "reframed copies and copies with hair, colour stickers or ink drawn on",
        "command": "python model_src/guard_clinical.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    save_clinical(args.out, by_size, info)
    log.info("wrote %s (%.1f kB)", args.out, os.path.getsize(args.out) / 1e3)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
