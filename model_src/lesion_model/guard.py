"""The not-a-lesion guard: how far an image lies from the lesion images the model was trained on.

The classifier answers benign/malignant for any picture; on a photo of a dog its answer is
noise. The guard gives every image a `lesion_score` in [0, 1] (high = looks like the
dermoscopic lesion images of the training set) and the artifact's `metadata.json` a
threshold: below it the API refuses the image (422 `not_a_skin_lesion`).

Two kinds, both measured in model_src/evaluate_guard.py (figures in docs/model.md):

* With negatives (`fit_guard_with_negatives`, what train.py fits for a MobileNetV2 trained with
  `--freeze-through`): the pooled mean and spread of the NEGATIVES_LAYER layers, which training
  keeps at their ImageNet weights, scored by linear parts (`LinearPart`): lesions against photographs
  that are not lesions (features shipped in NEGATIVES_FILE, never the images), lesions against
  degraded copies of training lesions (`degraded`) and, where CLINICAL_FILE has it, lesions against
  clinical photographs of skin (fitted once by model_src/guard_clinical.py; only its weights ship).
  Each part's negative logit is standardised on the validation lesions (the clinical part's then
  moved by CLINICAL_EXTRA_MARGIN) and `z` is the largest.
* Lesions only (`fit_guard`, the fallback and earlier artifacts): per part (pooled features, a
  backbone layer's mean and spread, input statistics) a Mahalanobis distance to the training
  lesions with a probabilistic-PCA covariance (`Part`: mean, the top `rank` principal directions
  with their variances shrunk towards the average, one shared variance for the rest), each
  log-distance standardised on the validation lesions and averaged into `z`.

Either way the threshold needs no negatives: `z_threshold` is the (1 - refuse_rate) quantile of
the validation lesions' `z` (the worst source's, with negatives) plus `margin` standard deviations,
and `z_scale` puts the median validation lesion at a score of sigmoid(3) = 0.95; so the score's
threshold is 0.5 and at most about `refuse_rate` of validation lesions fall below it.

The guard's parameters are numpy arrays here and constants in the exported graph
(export.py), so TF Serving's session loader needs nothing beyond the SavedModel.

Use (train.py):
    guard = fit_guard_with_negatives(model, train_images, val_images, negatives["parts"], val_sources)
    meta["guard"] = guard.metadata()
    write_artifact_dir(model, image_size, model_dir, meta, guard=guard)
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from lesion_model.artefacts import with_artefacts

log = logging.getLogger(__name__)

FEATURE_LAYER = "pooled_features"
OUTPUT_KEY = "lesion_score"
METHOD = "mahalanobis-ppca"
DEFAULT_RANK = 64
DEFAULT_SHRINK = 0.1
DEFAULT_REFUSE_RATE = 0.005
DEFAULT_MARGIN = 0.5
SCORE_THRESHOLD = 0.5
_EPS = 1e-6
# An intermediate backbone layer the guard may read instead (measured in docs/model.md: on the
# fine-tuned MobileNetV2 its pooled mean and spread separate non-lesions far better than the
# top features, which training pulled towards "benign vs malignant" only).
BACKBONE_NAME = "backbone"
DEFAULT_BACKBONE_LAYER = "block_13_expand_relu"
LAYER_PARTS = ("layer_mean", "layer_std")
# The guard with negatives (docs/model.md): linear lesion-vs-negative scores on the pooled mean
# and spread of five backbone layers, from early (texture, colour) to late (shapes), all of which
# training keeps frozen at their ImageNet weights (train.py --freeze-through block_16_expand_relu),
# so features of negative images computed once stay valid:
#   "photo":    lesions vs photographs that are not skin lesions (NEGATIVES_FILE),
#   "quality":  lesions vs degraded copies of training lesions (plain skin, blur, dark, glare),
#   "clinical": lesions vs clinical photographs of skin (CLINICAL_FILE).
# Lesions rotated, mirrored, reframed and with hair, colour stickers or ink drawn on count as
# lesions. The image is refused when any score says so. The five layers separate clinical photos
# from lesions far better than block_16 alone (89 % vs 73 % of held-out conditions' watermark-free
# crops refused at the same lesion refusals, docs/model.md).
NEGATIVES_LAYER = "+".join(f"block_{n}_expand_relu" for n in (3, 6, 10, 13, 16))
DEFAULT_L2 = 1.0 / 0.3
COMBINE_MEAN, COMBINE_MAX = "mean", "max"


# ----------------------------------------------------------------------------- features
def feature_layer(model: keras.Model) -> keras.layers.Layer:
    """The layer the guard reads: `pooled_features`, else (older models) the first global pooling."""
    try:
        return model.get_layer(FEATURE_LAYER)
    except ValueError:
        pass
    for layer in model.layers:
        if isinstance(layer, (keras.layers.GlobalAveragePooling2D, keras.layers.GlobalMaxPooling2D)):
            return layer
    raise ValueError(f"model {model.name!r} has no {FEATURE_LAYER!r} layer and no global pooling layer")


def default_backbone_layer(model: keras.Model) -> str | None:
    """DEFAULT_BACKBONE_LAYER when `model` has a backbone with that layer, else None (top features)."""
    try:
        model.get_layer(BACKBONE_NAME).get_layer(DEFAULT_BACKBONE_LAYER)
    except (ValueError, AttributeError):
        return None
    return DEFAULT_BACKBONE_LAYER


def backbone_layers(spec: str) -> list[str]:
    """The backbone layers a guard reads: `spec` is one layer name or several joined by "+"."""
    return [name for name in spec.split("+") if name]


def serving_model(model: keras.Model, backbone_layer: str | None = None) -> keras.Model:
    """One functional model: image -> {"logit", features...}, sharing the backbone's computation.

    With `backbone_layer` (one layer, or several joined by "+": `backbone_layers`), also those
    layers' outputs inside the nested backbone, "backbone_map_0", "backbone_map_1", ... in order.
    The model's layers are re-applied in order with the backbone split into one sub-model
    that returns both its output and those layers', so the logit is computed exactly as before.
    """
    layer = feature_layer(model)
    if backbone_layer is None:
        outputs = {"logit": model.outputs[0], "pooled": layer.output}
        if isinstance(layer, keras.layers.GlobalAveragePooling2D) and len(layer.input.shape) == 4:
            outputs["feature_map"] = layer.input
        return keras.Model(model.inputs, outputs, name=f"{model.name}_with_features")
    backbone = model.get_layer(BACKBONE_NAME)
    names = backbone_layers(backbone_layer)
    split = keras.Model(
        backbone.inputs,
        [backbone.outputs[0], *[backbone.get_layer(name).output for name in names]],
        name=f"{BACKBONE_NAME}_with_guard_layers",
    )
    inputs = keras.Input(shape=model.inputs[0].shape[1:], name=model.inputs[0].name)
    x, outputs = inputs, {}
    for current in model.layers:
        if isinstance(current, keras.layers.InputLayer):
            continue
        if current is backbone:
            x, *maps = split(x, training=False)
            outputs.update({f"backbone_map_{i}": m for i, m in enumerate(maps)})
            continue
        if current is layer and len(x.shape) == 4:
            outputs["feature_map"] = x
        x = current(x)
        if current is layer:
            outputs["pooled"] = x
    outputs["logit"] = x
    return keras.Model(inputs, outputs, name=f"{model.name}_with_guard_layers")


def feature_parts(outputs: dict, images: tf.Tensor | None = None) -> dict[str, tf.Tensor]:
    """The feature vectors the guard measures (TF ops, any batch): from `serving_model`'s
    outputs and, when given, a few statistics of the 0..255 input `images` themselves."""
    parts = {"pooled": tf.cast(outputs["pooled"], tf.float32)}
    maps = []
    while f"backbone_map_{len(maps)}" in outputs:
        maps.append(tf.cast(outputs[f"backbone_map_{len(maps)}"], tf.float32))
    if maps:
        # Their means side by side, then their spreads (in `backbone_layers` order).
        parts["layer_mean"] = tf.concat([tf.reduce_mean(m, axis=[1, 2]) for m in maps], axis=1)
        parts["layer_std"] = tf.concat([tf.math.reduce_std(m, axis=[1, 2]) for m in maps], axis=1)
    if "feature_map" in outputs:
        fmap = tf.cast(outputs["feature_map"], tf.float32)
        parts["map_std"] = tf.math.reduce_std(fmap, axis=[1, 2])
        parts["map_max"] = tf.reduce_max(fmap, axis=[1, 2])
    if images is not None:
        parts["image_stats"] = image_statistics(images)
    return parts


def image_statistics(images: tf.Tensor) -> tf.Tensor:
    """[N, S, S, 3] 0..255 -> [N, 11]: colour means and spreads, saturation, sharpness (at 1/4 of
    the resolution), and the shares of black and of blown-out pixels. Cheap, and what tells a
    dark, overexposed or blurred picture apart, which the backbone's features are trained to
    ignore."""
    # On a 4x4 average-pooled copy: the same picture-level statistics at 1/16 of the pixels,
    # which keeps the guard's share of the serving latency small.
    x = tf.nn.avg_pool2d(tf.cast(images, tf.float32) / 255.0, ksize=4, strides=4, padding="SAME")
    brightest, darkest = tf.reduce_max(x, axis=-1), tf.reduce_min(x, axis=-1)
    saturation = (brightest - darkest) / (brightest + 1e-6)
    gray = tf.reduce_mean(x, axis=-1)
    laplacian = (
        4.0 * gray[:, 1:-1, 1:-1]
        - gray[:, :-2, 1:-1]
        - gray[:, 2:, 1:-1]
        - gray[:, 1:-1, :-2]
        - gray[:, 1:-1, 2:]
    )
    columns = [
        tf.reduce_mean(x, axis=[1, 2]),
        tf.math.reduce_std(x, axis=[1, 2]),
        tf.reduce_mean(saturation, axis=[1, 2])[:, None],
        tf.math.reduce_std(saturation, axis=[1, 2])[:, None],
        tf.math.log(tf.math.reduce_variance(laplacian, axis=[1, 2]) + 1e-6)[:, None],
        tf.reduce_mean(tf.cast(brightest < 0.08, tf.float32), axis=[1, 2])[:, None],
        tf.reduce_mean(tf.cast(darkest > 0.95, tf.float32), axis=[1, 2])[:, None],
    ]
    return tf.concat(columns, axis=-1)


def extract_features(
    model: keras.Model, images, batch_size: int = 32, backbone_layer: str | None = None
) -> dict[str, np.ndarray]:
    """Guard features of `images`: a tf.data.Dataset (elements `image` or `(image, ...)`,
    batched or not, 0..255) or an array [N, S, S, 3]. Returns {part: [N, D]}."""
    extractor = serving_model(model, backbone_layer)

    @tf.function(reduce_retracing=True)
    def step(x):
        x = tf.cast(x, tf.float32)
        return feature_parts(extractor(x, training=False), x)

    chunks: dict[str, list[np.ndarray]] = {}
    for batch in _image_batches(images, batch_size):
        for name, value in step(batch).items():
            chunks.setdefault(name, []).append(value.numpy())
    if not chunks:
        raise ValueError("no images to fit the guard on")
    return {name: np.concatenate(values).astype(np.float64) for name, values in chunks.items()}


def _image_batches(images, batch_size: int):
    if isinstance(images, np.ndarray):
        for i in range(0, len(images), batch_size):
            yield images[i : i + batch_size]
        return
    ds = images.map(lambda *e: e[0]) if isinstance(images.element_spec, tuple) else images
    if len(ds.element_spec.shape) == 3:
        ds = ds.batch(batch_size)
    yield from ds.prefetch(tf.data.AUTOTUNE)


# ----------------------------------------------------------------------------- the guard
@dataclass
class Part:
    """A Mahalanobis distance with a probabilistic-PCA covariance, log-standardised on validation."""

    name: str
    mean: np.ndarray  # [D]
    directions: np.ndarray  # [D, k] principal directions
    inv_variances: np.ndarray  # [k]
    inv_residual: float  # 1 / the shared variance of the other D - k directions
    loc: float = 0.0  # median log-distance of validation lesions
    scale: float = 1.0  # spread of the same

    @classmethod
    def fit(cls, name: str, x: np.ndarray, rank: int, shrink: float) -> Part:
        n, d = x.shape
        mean = x.mean(axis=0)
        centred = x - mean
        # Eigen-decomposition through the SVD of the data: no D x D covariance needed.
        _, singular, vt = np.linalg.svd(centred, full_matrices=False)
        variances = singular**2 / max(n - 1, 1)
        k = int(min(rank, len(variances) - 1, d - 1))
        if k < 1:
            raise ValueError(f"guard part {name!r}: need at least 3 images, got {n}")
        total = float(np.sum(centred**2) / max(n - 1, 1))
        floor = shrink * total / d + _EPS  # shrinkage towards the average variance
        residual = max((total - variances[:k].sum()) / max(d - k, 1), 0.0) + floor
        return cls(name, mean, vt[:k].T.copy(), 1.0 / (variances[:k] + floor), 1.0 / residual)

    def log_distance(self, x: np.ndarray) -> np.ndarray:
        centred = x - self.mean
        projected = centred @ self.directions
        inside = np.sum(projected**2 * self.inv_variances, axis=1)
        outside = np.maximum(np.sum(centred**2, axis=1) - np.sum(projected**2, axis=1), 0.0)
        return np.log(inside + outside * self.inv_residual + _EPS)

    def standardised(self, x: np.ndarray) -> np.ndarray:
        return (self.log_distance(x) - self.loc) / self.scale

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.name,)


@dataclass
class LinearPart:
    """A linear lesion-vs-negatives score: L2-regularised logistic regression with balanced class
    weights (numpy, Newton steps), standardisation folded into `weights`. Its "distance" is the
    negative logit (high = unlike the lesions), log-standardised on validation lesions like `Part`.
    """

    name: str
    inputs: tuple[str, ...]
    weights: np.ndarray  # [D] on the raw concatenated inputs
    bias: float
    loc: float = 0.0
    scale: float = 1.0
    n_negatives: int = 0

    @classmethod
    def fit(
        cls, name: str, inputs: tuple[str, ...], positives: np.ndarray, negatives: np.ndarray, l2: float
    ) -> LinearPart:
        if len(positives) < 2 or len(negatives) < 2:
            raise ValueError(
                f"guard part {name!r}: need lesions and negatives, got {len(positives)}/{len(negatives)}"
            )
        x = np.concatenate([positives, negatives]).astype(np.float64)
        y = np.r_[np.ones(len(positives)), np.zeros(len(negatives))]
        mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-6
        z = np.concatenate([(x - mu) / sd, np.ones((len(x), 1))], axis=1)
        # Balanced class weights (each class weighs half), as sklearn's class_weight="balanced".
        sample = np.where(y == 1, len(y) / (2.0 * len(positives)), len(y) / (2.0 * len(negatives)))
        penalty = np.full(z.shape[1], l2)
        penalty[-1] = 0.0  # the intercept is not shrunk
        beta = np.zeros(z.shape[1])
        for _ in range(100):
            p = 1.0 / (1.0 + np.exp(-np.clip(z @ beta, -30, 30)))
            gradient = z.T @ (sample * (p - y)) + penalty * beta
            hessian = (z * (sample * p * (1 - p))[:, None]).T @ z + np.diag(penalty)
            step = np.linalg.solve(hessian, gradient)
            beta -= step
            if np.max(np.abs(step)) < 1e-7:
                break
        weights = beta[:-1] / sd
        bias = float(beta[-1] - np.sum(beta[:-1] * mu / sd))
        return cls(name, tuple(inputs), weights, bias, n_negatives=int(len(negatives)))

    def log_distance(self, x: np.ndarray) -> np.ndarray:
        return -(x @ self.weights + self.bias)

    def standardised(self, x: np.ndarray) -> np.ndarray:
        return (self.log_distance(x) - self.loc) / self.scale


def _gather(features: dict, part) -> np.ndarray:
    return np.concatenate([np.asarray(features[name]) for name in part.inputs], axis=1)


@dataclass
class LesionGuard:
    """Parts + the score's calibration. `score` (numpy) and `tf_score` (graph) agree."""

    parts: list  # of Part and LinearPart
    z_threshold: float
    z_scale: float
    feature_layer: str = FEATURE_LAYER
    threshold: float = SCORE_THRESHOLD
    info: dict = field(default_factory=dict)
    backbone_layer: str | None = None  # set: the parts read this backbone layer (serving_model)
    combine: str = COMBINE_MEAN  # how the parts' standardised distances make z: mean or max

    def z(self, features: dict[str, np.ndarray]) -> np.ndarray:
        zs = [p.standardised(_gather(features, p)) for p in self.parts]
        return np.max(zs, axis=0) if self.combine == COMBINE_MAX else np.mean(zs, axis=0)

    def score(self, features: dict[str, np.ndarray]) -> np.ndarray:
        """lesion_score in [0, 1] for numpy features (from `extract_features`)."""
        t = np.clip((self.z_threshold - self.z(features)) / self.z_scale, -60.0, 60.0)
        return 1.0 / (1.0 + np.exp(-t))

    def tf_score(self, features: dict[str, tf.Tensor]) -> tf.Tensor:
        """The same score as TF ops on `feature_parts(...)` (used inside the serving graph).

        All Mahalanobis parts in one pass of a few ops (the serving cost is per op, not per
        FLOP): with c = x - mean per part, distance = inv_residual |c|^2 - |c V sqrt(inv_residual
        - inv_var)|^2, which equals the projected-plus-residual form of `Part.log_distance`;
        the linear parts sharing the same inputs in one matrix product.
        """
        columns = []
        mahalanobis = [p for p in self.parts if isinstance(p, Part)]
        if mahalanobis:
            mean, squares, projection, sums, loc, scale = self._fused(mahalanobis)
            x = tf.concat([tf.cast(features[p.name], tf.float32) for p in mahalanobis], axis=1)
            centred = x - mean
            projected = tf.matmul(centred, projection)
            distance = tf.matmul(tf.square(centred), squares) - tf.matmul(tf.square(projected), sums)
            columns.append((tf.math.log(tf.nn.relu(distance) + _EPS) - loc) * scale)
        linear = [p for p in self.parts if isinstance(p, LinearPart)]
        for inputs in dict.fromkeys(p.inputs for p in linear):
            group = [p for p in linear if p.inputs == inputs]
            x = tf.concat([tf.cast(features[name], tf.float32) for name in inputs], axis=1)
            weights = tf.constant(np.stack([p.weights for p in group], axis=1).astype(np.float32))
            bias = tf.constant(np.array([p.bias for p in group], np.float32))
            loc = tf.constant(np.array([p.loc for p in group], np.float32))
            scale = tf.constant(np.array([1.0 / p.scale for p in group], np.float32))
            columns.append((-(tf.matmul(x, weights) + bias) - loc) * scale)
        z = tf.concat(columns, axis=1) if len(columns) > 1 else columns[0]
        z = tf.reduce_max(z, axis=1) if self.combine == COMBINE_MAX else tf.reduce_mean(z, axis=1)
        return tf.sigmoid((np.float32(self.z_threshold) - z) / np.float32(self.z_scale))

    @staticmethod
    def _fused(parts: list[Part]):
        """Block matrices over `parts`: mean [D], squares [D, P], projection [D, K], sums [K, P]."""
        dims = [p.mean.shape[0] for p in parts]
        ranks = [p.directions.shape[1] for p in parts]
        squares = np.zeros((sum(dims), len(parts)), np.float32)
        projection = np.zeros((sum(dims), sum(ranks)), np.float32)
        sums = np.zeros((sum(ranks), len(parts)), np.float32)
        d0 = k0 = 0
        for i, (part, d, k) in enumerate(zip(parts, dims, ranks, strict=True)):
            squares[d0 : d0 + d, i] = part.inv_residual
            weights = np.sqrt(np.maximum(part.inv_residual - part.inv_variances, 0.0))
            projection[d0 : d0 + d, k0 : k0 + k] = part.directions * weights
            sums[k0 : k0 + k, i] = 1.0
            d0, k0 = d0 + d, k0 + k
        mean = np.concatenate([p.mean for p in parts]).astype(np.float32)
        loc = np.array([p.loc for p in parts], np.float32)
        scale = np.array([1.0 / p.scale for p in parts], np.float32)
        return tuple(tf.constant(a) for a in (mean, squares, projection, sums, loc, scale))

    def refused(self, features: dict[str, np.ndarray]) -> np.ndarray:
        return self.score(features) < self.threshold

    def metadata(self) -> dict:
        """What metadata.json["guard"] holds (GET /model shows it; the quality gate checks it)."""
        return {
            "output": OUTPUT_KEY,
            "threshold": float(self.threshold),
            "method": self.method,
            "feature_layer": self.feature_layer,
            "parts": [p.name for p in self.parts],
            **({"backbone_layer": self.backbone_layer} if self.backbone_layer else {}),
            **({"combine": self.combine} if len(self.parts) > 1 else {}),
            **({"rank": int(self.parts[0].directions.shape[1])} if isinstance(self.parts[0], Part) else {}),
            **self.info,
        }

    @property
    def method(self) -> str:
        kinds = {type(p) for p in self.parts}
        if kinds == {LinearPart}:
            return "linear-with-negatives"
        return METHOD if kinds == {Part} else f"{METHOD}+linear-with-negatives"

    def summary(self) -> str:
        v = self.info.get("validation", {})
        where = f"{self.feature_layer}/{self.backbone_layer}" if self.backbone_layer else self.feature_layer
        return (
            f"{self.method} on {where} ({', '.join(p.name for p in self.parts)}): threshold "
            f"{self.threshold} refuses {v.get('lesion_refusal_rate', float('nan')):.2%} of "
            f"{v.get('n', 0)} validation lesions"
        )


def fit_guard(
    model: keras.Model,
    train_images,
    val_images,
    batch_size: int = 32,
    refuse_rate: float = DEFAULT_REFUSE_RATE,
    margin: float = DEFAULT_MARGIN,
    rank: int = DEFAULT_RANK,
    shrink: float = DEFAULT_SHRINK,
    parts: tuple[str, ...] | None = None,
    backbone_layer: str | None = None,
) -> LesionGuard:
    """Fit the guard on lesion images only; choose its threshold on validation lesions.

    `train_images` / `val_images`: see `extract_features`. Pass un-augmented images.
    `backbone_layer` (e.g. DEFAULT_BACKBONE_LAYER, see `default_backbone_layer`): read that
    layer of the backbone; `parts` then defaults to LAYER_PARTS (its pooled mean and spread).
    """
    if backbone_layer is not None and parts is None:
        parts = LAYER_PARTS
    train = extract_features(model, train_images, batch_size, backbone_layer)
    val = extract_features(model, val_images, batch_size, backbone_layer)
    guard = fit_guard_from_features(
        train, val, refuse_rate, margin, rank, shrink, parts, feature_layer(model).name
    )
    guard.backbone_layer = backbone_layer
    return guard


def fit_guard_from_features(
    train: dict[str, np.ndarray],
    val: dict[str, np.ndarray],
    refuse_rate: float = DEFAULT_REFUSE_RATE,
    margin: float = DEFAULT_MARGIN,
    rank: int = DEFAULT_RANK,
    shrink: float = DEFAULT_SHRINK,
    parts: tuple[str, ...] | None = None,
    layer_name: str = FEATURE_LAYER,
) -> LesionGuard:
    """The numerical half of `fit_guard`, on features already extracted."""
    if not 0.0 < refuse_rate < 0.5:
        raise ValueError(f"refuse_rate must be in (0, 0.5), got {refuse_rate}")
    names = [n for n in (parts or tuple(train)) if n in train]
    if not names:
        raise ValueError(f"none of the guard parts {parts} are among the features {sorted(train)}")
    fitted = []
    for name in names:
        part = Part.fit(name, train[name], rank, shrink)
        val_log = part.log_distance(val[name])
        part.loc = float(np.median(val_log))
        part.scale = float(max(np.std(val_log), 1e-3))
        fitted.append(part)
    guard = LesionGuard(fitted, z_threshold=0.0, z_scale=1.0, feature_layer=layer_name)
    z_val = guard.z(val)
    spread = float(max(np.std(z_val), 1e-3))
    guard.z_threshold = float(np.quantile(z_val, 1.0 - refuse_rate) + margin * spread)
    # The median validation lesion scores sigmoid(3) = 0.95; the threshold is 0.5.
    guard.z_scale = float(max((guard.z_threshold - np.median(z_val)) / 3.0, 1e-3))
    scores = guard.score(val)
    guard.info = {
        "threshold_rule": (
            f"lesion images only: z = mean standardised log Mahalanobis distance; threshold at the "
            f"{1 - refuse_rate:.3f} quantile of validation lesions' z plus {margin} x their z std; "
            f"lesion_score = sigmoid(3 (z_threshold - z) / (z_threshold - median z)), so the "
            f"threshold is {SCORE_THRESHOLD} and the median validation lesion scores 0.95"
        ),
        "refuse_rate_target": float(refuse_rate),
        "margin": float(margin),
        "shrink": float(shrink),
        "fitted_on": {"n_train": int(len(next(iter(train.values()))))},
        "validation": {
            "n": int(len(scores)),
            "lesion_refusal_rate": float(np.mean(scores < SCORE_THRESHOLD)),
            "score_quantiles": {
                q: float(np.quantile(scores, float(q))) for q in ("0.001", "0.01", "0.05", "0.5")
            },
        },
    }
    log.info("guard: %s", guard.summary())
    return guard


# ----------------------------------------------------------------------------- with negatives
PHOTO, QUALITY, CLINICAL = "photo", "quality", "clinical"
NEGATIVES_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "guard_negatives.npz")
# The third part, lesions vs clinical (camera, not dermatoscope) photographs of skin, is fitted once
# by model_src/guard_clinical.py and ships as its weight vector only: the photographs' licence
# (CC BY-NC-ND) lets them build and check the guard, never ship (docs/model.md).
CLINICAL_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "guard_clinical.npz")
# Its standardised score is moved by this many validation standard deviations before the parts are
# combined (negative: it counts for more). The combined threshold is set on the validation lesions'
# largest z, so the moved part decides where the threshold lies: at -1 the 08:29 guard (block_16
# alone) refused 86 % of held-out clinical photos without their watermark against 32 % at +1.5,
# with the same 0.12 % of held-out lesions and the same hard cases refused (docs/model.md).
CLINICAL_EXTRA_MARGIN = -1.0
PROBE_SEED = 20261206  # the probe image whose features prove the frozen layer is the same


def probe_image(size: int) -> np.ndarray:
    """A fixed pseudo-random picture [1, size, size, 3] (uint8): the same everywhere (RandomState
    is frozen by numpy's compatibility policy)."""
    rng = np.random.RandomState(PROBE_SEED)
    coarse = rng.randint(0, 256, size=(1, 8, 8, 3)).astype(np.float32)
    smooth = tf.image.resize(coarse, (size, size), method="bilinear").numpy()
    noise = rng.randint(-20, 21, size=(1, size, size, 3))
    return np.clip(smooth + noise, 0, 255).astype(np.uint8)


def degraded(images: np.ndarray, seed: int) -> np.ndarray:
    """Four bad photos of each lesion image [N, S, S, 3] -> [4N, S, S, 3] (uint8): a corner of
    plain skin away from the lesion (enlarged), heavy blur, very dark, overexposed. The guard's
    "quality" part learns to refuse them; evaluate_guard.py makes its hard cases another way
    (Pillow, from the original files), so that check is not circular."""
    rng = np.random.default_rng(seed)
    x = tf.cast(images, tf.float32)
    n, size = int(x.shape[0]), int(x.shape[1])
    side = max(8, int(round(size * rng.uniform(0.22, 0.34))))
    boxes = []
    for _ in range(n):
        top = 0 if rng.random() < 0.5 else size - side
        left = 0 if rng.random() < 0.5 else size - side
        boxes.append([top / size, left / size, (top + side) / size, (left + side) / size])
    plain = tf.image.crop_and_resize(x, np.asarray(boxes, np.float32), np.arange(n), (size, size))
    small = max(4, size // int(rng.integers(8, 17)))
    blur = tf.image.resize(tf.image.resize(x, (small, small), method="area"), (size, size))
    dark = x * rng.uniform(0.06, 0.2, size=(n, 1, 1, 1)).astype(np.float32)
    bright = x * rng.uniform(2.5, 4.0, size=(n, 1, 1, 1)).astype(np.float32)
    out = tf.concat([plain, blur, dark, bright], axis=0)
    return tf.cast(tf.clip_by_value(tf.round(out), 0, 255), tf.uint8).numpy()


def reframed(images: np.ndarray, seed: int) -> np.ndarray:
    """The same lesions framed another way [N, S, S, 3] (uint8): turned by up to 45 degrees (black
    corners, as a round dermatoscope field leaves them) and zoomed in by up to 30 %. They count as
    lesions: a photo taken at another angle or distance must still pass."""
    augment = keras.Sequential(
        [
            keras.layers.RandomRotation(0.125, fill_mode="constant", seed=seed),
            keras.layers.RandomZoom((-0.3, 0.0), seed=seed + 1),
        ]
    )
    chunks = [
        augment(np.asarray(images[i : i + 256], np.float32), training=True).numpy()
        for i in range(0, len(images), 256)
    ]
    return np.clip(np.round(np.concatenate(chunks)), 0, 255).astype(np.uint8)


def load_negatives(path: str, size: int) -> dict | None:
    """Photo negatives' features at `size` from an .npz made by model_src/guard_negatives.py:
    {"layer", "parts": {name: [M, D]}, "probe": {name: [1, D]}, "info"}; None if it has none."""
    if not path or not os.path.isfile(path):
        return None
    with np.load(path, allow_pickle=False) as data:
        keys = set(data.files)
        if f"{size}/layer_mean" not in keys:
            return None
        parts = {name: data[f"{size}/{name}"].astype(np.float64) for name in LAYER_PARTS}
        probe = {name: data[f"{size}/probe/{name}"].astype(np.float64) for name in LAYER_PARTS}
        info = json.loads(str(data["info"])) if "info" in keys else {}
    return {"layer": info.get("layer", NEGATIVES_LAYER), "parts": parts, "probe": probe, "info": info}


def negatives_match(model: keras.Model, negatives: dict, size: int, tolerance: float = 1e-3) -> bool:
    """Whether `model` computes the negatives' layer exactly as when they were made: the probe
    image's features must agree (relative error below `tolerance`)."""
    mine = extract_features(model, probe_image(size), 1, negatives["layer"])
    for name, theirs in negatives["probe"].items():
        error = np.max(np.abs(mine[name] - theirs)) / (np.max(np.abs(theirs)) + 1e-6)
        if not error < tolerance:
            log.warning("guard negatives: %s of the probe differs by %.3g (relative)", name, error)
            return False
    return True


def positive_features(
    model: keras.Model,
    images: np.ndarray,
    batch_size: int = 32,
    backbone_layer: str = NEGATIVES_LAYER,
    seed: int = 0,
) -> np.ndarray:
    """What the linear parts count as lesions [5N, D]: `images` [N, S, S, 3] (uint8), their
    90-degree rotations, mirror images, reframed copies (`reframed`) and copies with hair,
    colour stickers or ink drawn on (artefacts.with_artefacts), as the layers' pooled means and
    spreads side by side (LAYER_PARTS)."""
    images = np.asarray(images)

    def joined(batch) -> np.ndarray:
        found = extract_features(model, batch, batch_size, backbone_layer)
        return np.concatenate([found[name] for name in LAYER_PARTS], axis=1)

    return np.concatenate(
        [
            joined(images),
            joined(np.rot90(images, 1, axes=(1, 2))),
            joined(images[:, :, ::-1]),
            joined(reframed(images, seed)),
            joined(with_artefacts(images, seed + 1)),
        ]
    )


def lesion_ids(paths, sources) -> list[str]:
    """Names for lesion images that do not depend on where the data lies: "<source>/<file name>"
    (e.g. "isic-dev/ISIC_0024306.jpg"), to tell which lesions a pre-fitted part has seen."""
    return [f"{source}/{os.path.basename(path)}" for path, source in zip(paths, sources, strict=True)]


def save_clinical(
    path: str,
    by_size: dict[int, tuple[LinearPart, dict]],
    info: dict,
    positives: dict[int, list[str]] | None = None,
) -> None:
    """Write the pre-fitted clinical part: per image size its weights and bias, the probe image's
    features (as load_negatives reads them) and, when given, the ids (`lesion_ids`) of the lesions
    it was fitted on, and `info` (JSON). No image, no per-image feature: only the linear direction."""
    arrays: dict[str, np.ndarray] = {}
    for size, (part, probe) in by_size.items():
        arrays[f"{size}/weights"] = np.asarray(part.weights, np.float64)
        arrays[f"{size}/bias"] = np.asarray([part.bias], np.float64)
        arrays[f"{size}/n_negatives"] = np.asarray([part.n_negatives], np.int64)
        for name in LAYER_PARTS:
            arrays[f"{size}/probe/{name}"] = np.asarray(probe[name], np.float32)
        if positives and size in positives:
            arrays[f"{size}/positives"] = np.asarray(sorted(positives[size]), dtype=np.str_)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    np.savez_compressed(path, info=np.array(json.dumps(info)), **arrays)


def load_clinical(path: str, size: int) -> dict | None:
    """The pre-fitted clinical part at `size` from save_clinical's file: {"layer", "part"
    (LinearPart), "probe", "info", "positives" (the set of lesion ids it was fitted on, None when
    the file does not list them)}; None when the file or that size is missing."""
    if not path or not os.path.isfile(path):
        return None
    with np.load(path, allow_pickle=False) as data:
        files = set(data.files)
        if f"{size}/weights" not in files:
            return None
        positives = set(data[f"{size}/positives"].tolist()) if f"{size}/positives" in files else None
        part = LinearPart(
            CLINICAL, LAYER_PARTS, data[f"{size}/weights"].astype(np.float64),
            float(data[f"{size}/bias"][0]), n_negatives=int(data[f"{size}/n_negatives"][0]),
        )  # fmt: skip
        probe = {name: data[f"{size}/probe/{name}"].astype(np.float64) for name in LAYER_PARTS}
        info = json.loads(str(data["info"]))
    return {
        "layer": info.get("layer", NEGATIVES_LAYER), "part": part, "probe": probe, "info": info,
        "positives": positives,
    }  # fmt: skip


def fit_guard_with_negatives(
    model: keras.Model,
    train_images: np.ndarray,
    val_images: np.ndarray,
    photo_negatives: dict[str, np.ndarray],
    val_sources=None,
    batch_size: int = 32,
    backbone_layer: str = NEGATIVES_LAYER,
    refuse_rate: float = DEFAULT_REFUSE_RATE,
    margin: float = DEFAULT_MARGIN,
    l2: float = DEFAULT_L2,
    quality_images: int = 600,
    seed: int = 0,
    clinical: LinearPart | dict[str, np.ndarray] | None = None,
    clinical_margin: float = CLINICAL_EXTRA_MARGIN,
) -> LesionGuard:
    """The guard with negatives (module docstring, NEGATIVES_LAYER): lesions (and their rotated,
    mirrored, reframed copies and copies with artefacts drawn on) against `photo_negatives`
    ({"layer_mean": [M, D], "layer_std": [M, D]}, features of the same frozen layers) and against
    degraded copies of up to `quality_images` training lesions. Threshold: the worst source's (1 -
    refuse_rate) quantile of validation z plus `margin` of its std (`val_sources`, one name per
    validation image; None = pooled).

    `clinical`, when given, adds a third part, lesions against clinical photographs of skin:
    either pre-fitted (a LinearPart from load_clinical, what train.py uses) or fitted here on
    those photographs' features ({"layer_mean", "layer_std"}, what evaluate_guard.py's leave-one-
    source-out run uses). Its standardised score is moved by `clinical_margin` validation standard
    deviations (CLINICAL_EXTRA_MARGIN; negative: up, so it weighs more)."""
    rng = np.random.default_rng(seed)
    inputs = LAYER_PARTS

    def feats(images) -> dict[str, np.ndarray]:
        found = extract_features(model, images, batch_size, backbone_layer)
        return {name: found[name] for name in inputs}

    def joined(*dicts) -> np.ndarray:
        return np.concatenate([np.concatenate([d[name] for name in inputs], axis=1) for d in dicts])

    train_images = np.asarray(train_images)
    positives = positive_features(model, train_images, batch_size, backbone_layer, seed)
    pick = rng.choice(len(train_images), min(quality_images, len(train_images)), replace=False)
    bad = joined(feats(degraded(train_images[pick], seed)))
    photos = joined(photo_negatives)
    parts = [
        LinearPart.fit(PHOTO, inputs, positives, photos, l2),
        LinearPart.fit(QUALITY, inputs, positives, bad, l2),
    ]
    if isinstance(clinical, LinearPart):
        parts.append(dataclasses.replace(clinical, name=CLINICAL, weights=np.array(clinical.weights)))
    elif clinical is not None:
        parts.append(LinearPart.fit(CLINICAL, inputs, positives, joined(clinical), l2))
    features = feats(np.asarray(val_images))
    for part in parts:
        d = part.log_distance(joined(features))
        part.loc, part.scale = float(np.median(d)), float(max(np.std(d), 1e-3))
        if part.name == CLINICAL:
            part.loc += clinical_margin * part.scale
    guard = LesionGuard(
        parts, z_threshold=0.0, z_scale=1.0, feature_layer=FEATURE_LAYER, backbone_layer=backbone_layer,
        combine=COMBINE_MAX,
    )  # fmt: skip
    z_val = guard.z(features)
    groups = np.asarray(val_sources) if val_sources is not None else np.zeros(len(z_val), dtype=int)
    per_source = {
        str(g): float(
            np.quantile(z_val[groups == g], 1.0 - refuse_rate)
            + margin * max(np.std(z_val[groups == g]), 1e-3)
        )
        for g in np.unique(groups)
    }
    guard.z_threshold = max(per_source.values())
    guard.z_scale = float(max((guard.z_threshold - np.median(z_val)) / 3.0, 1e-3))
    scores = guard.score(features)
    by_source = {
        str(g): {
            "n": int(np.sum(groups == g)),
            "lesion_refusal_rate": float(np.mean(scores[groups == g] < SCORE_THRESHOLD)),
        }
        for g in np.unique(groups)
    }
    guard.info = {
        "threshold_rule": (
            f"z = the largest of {len(parts)} standardised linear scores (lesions vs photographs that "
            "are not lesions, lesions vs degraded lesion photos"
            + (
                f", lesions vs clinical photographs of skin, its z moved by {-clinical_margin:+g} std"
                if len(parts) > 2
                else ""
            )
            + f") on the frozen ImageNet layer{'s' if '+' in backbone_layer else ''} "
            + f"{backbone_layer.replace('+', ', ')}; threshold at the worst source's "
            f"{1 - refuse_rate:.3f} quantile of "
            f"validation lesions' z plus {margin} x its std; "
            f"lesion_score = sigmoid(3 (z_threshold - z) / (z_threshold - median z)), so the threshold is "
            f"{SCORE_THRESHOLD} and the median validation lesion scores 0.95"
        ),
        "refuse_rate_target": float(refuse_rate),
        "margin": float(margin),
        "l2": float(l2),
        "fitted_on": {
            "n_train": int(len(train_images)),
            "positives": "training lesions, their 90-degree rotations, mirror images, reframed copies "
            "(turned up to 45 degrees, zoomed in up to 30 %) and copies with hair, colour stickers "
            "or ink drawn on",
            "n_photo_negatives": int(len(photos)),
            "n_quality_negatives": int(len(bad)),
            **(
                {"n_clinical_negatives": int(parts[2].n_negatives), "clinical_margin": float(clinical_margin)}
                if len(parts) > 2
                else {}
            ),
        },
        "validation": {
            "n": int(len(scores)),
            "lesion_refusal_rate": float(np.mean(scores < SCORE_THRESHOLD)),
            "by_source": by_source,
            "score_quantiles": {
                q: float(np.quantile(scores, float(q))) for q in ("0.001", "0.01", "0.05", "0.5")
            },
        },
    }
    log.info("guard: %s", guard.summary())
    return guard
