"""The not-a-lesion guard: how far an image lies from the lesion images the model was trained on.

The classifier answers benign/malignant for any picture; on a photo of a dog its answer is
noise. The guard gives every image a `lesion_score` in [0, 1] (high = looks like the
dermoscopic lesion images of the training set) and the artifact's `metadata.json` a
threshold: below it the API refuses the image (422 `not_a_skin_lesion`).

How the score is made (measured in model_src/evaluate_guard.py, figures in docs/model.md):
  * features: the model's own `pooled_features` layer ([N, D], the pooled backbone output),
    when that layer is a global average pooling the spatial spread (std) and peak (max) of the
    feature map it pools, and 11 statistics of the input pixels (colour, saturation, sharpness,
    black and blown-out shares). Reusing the classifier's backbone keeps the extra latency to
    one small matrix product per part.
  * per part, a Mahalanobis distance to the training lesions: mean, the top `rank`
    principal directions with their variances (shrunk towards the average variance) and one
    shared variance for the remaining directions (a probabilistic-PCA covariance, so a
    1280-D feature needs a 1280 x rank matrix, not 1280 x 1280);
  * each part's log-distance is standardised on the validation lesions, the parts are
    averaged into one `z`, and `lesion_score = sigmoid((z_threshold - z) / z_scale)`.
  * the threshold needs no negative images: `z_threshold` is the (1 - refuse_rate) quantile
    of the validation lesions' `z` plus `margin` standard deviations of that `z`, and `z_scale`
    puts the median validation lesion at a score of sigmoid(3) = 0.95; so by construction the
    score's threshold is 0.5 and at most about `refuse_rate` of validation lesions fall below it.

The guard's parameters are numpy arrays here and constants in the exported graph
(export.py), so TF Serving's session loader needs nothing beyond the SavedModel.

Use (train.py):
    guard = fit_guard(model, cached["train"], cached["val"], batch_size=32)
    meta["guard"] = guard.metadata()
    write_artifact_dir(model, image_size, model_dir, meta, guard=guard)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

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


def serving_model(model: keras.Model, backbone_layer: str | None = None) -> keras.Model:
    """One functional model: image -> {"logit", features...}, sharing the backbone's computation.

    With `backbone_layer`, also "backbone_map": that layer's output inside the nested backbone
    (the model's layers are re-applied in order with the backbone split into one sub-model that
    returns both its output and that layer's, so the logit is computed exactly as before).
    """
    layer = feature_layer(model)
    if backbone_layer is None:
        outputs = {"logit": model.outputs[0], "pooled": layer.output}
        if isinstance(layer, keras.layers.GlobalAveragePooling2D) and len(layer.input.shape) == 4:
            outputs["feature_map"] = layer.input
        return keras.Model(model.inputs, outputs, name=f"{model.name}_with_features")
    backbone = model.get_layer(BACKBONE_NAME)
    split = keras.Model(
        backbone.inputs,
        [backbone.outputs[0], backbone.get_layer(backbone_layer).output],
        name=f"{BACKBONE_NAME}_with_{backbone_layer}",
    )
    inputs = keras.Input(shape=model.inputs[0].shape[1:], name=model.inputs[0].name)
    x, outputs = inputs, {}
    for current in model.layers:
        if isinstance(current, keras.layers.InputLayer):
            continue
        if current is backbone:
            x, outputs["backbone_map"] = split(x, training=False)
            continue
        if current is layer and len(x.shape) == 4:
            outputs["feature_map"] = x
        x = current(x)
        if current is layer:
            outputs["pooled"] = x
    outputs["logit"] = x
    return keras.Model(inputs, outputs, name=f"{model.name}_with_{backbone_layer}")


def feature_parts(outputs: dict, images: tf.Tensor | None = None) -> dict[str, tf.Tensor]:
    """The feature vectors the guard measures (TF ops, any batch): from `serving_model`'s
    outputs and, when given, a few statistics of the 0..255 input `images` themselves."""
    parts = {"pooled": tf.cast(outputs["pooled"], tf.float32)}
    if "backbone_map" in outputs:
        bmap = tf.cast(outputs["backbone_map"], tf.float32)
        parts["layer_mean"] = tf.reduce_mean(bmap, axis=[1, 2])
        parts["layer_std"] = tf.math.reduce_std(bmap, axis=[1, 2])
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


@dataclass
class LesionGuard:
    """Parts + the score's calibration. `score` (numpy) and `tf_score` (graph) agree."""

    parts: list[Part]
    z_threshold: float
    z_scale: float
    feature_layer: str = FEATURE_LAYER
    threshold: float = SCORE_THRESHOLD
    info: dict = field(default_factory=dict)
    backbone_layer: str | None = None  # set: the parts read this backbone layer (serving_model)

    def z(self, features: dict[str, np.ndarray]) -> np.ndarray:
        return np.mean([p.standardised(features[p.name]) for p in self.parts], axis=0)

    def score(self, features: dict[str, np.ndarray]) -> np.ndarray:
        """lesion_score in [0, 1] for numpy features (from `extract_features`)."""
        t = np.clip((self.z_threshold - self.z(features)) / self.z_scale, -60.0, 60.0)
        return 1.0 / (1.0 + np.exp(-t))

    def tf_score(self, features: dict[str, tf.Tensor]) -> tf.Tensor:
        """The same score as TF ops on `feature_parts(...)` (used inside the serving graph).

        All parts in one pass of a few ops (the serving cost is per op, not per FLOP): with
        c = x - mean per part, distance = inv_residual |c|^2 - |c V sqrt(inv_residual - inv_var)|^2,
        which equals the projected-plus-residual form of `Part.log_distance`.
        """
        mean, squares, projection, sums, loc, scale = self._fused()
        x = tf.concat([tf.cast(features[p.name], tf.float32) for p in self.parts], axis=1)
        centred = x - mean
        projected = tf.matmul(centred, projection)
        distance = tf.matmul(tf.square(centred), squares) - tf.matmul(tf.square(projected), sums)
        z = tf.reduce_mean((tf.math.log(tf.nn.relu(distance) + _EPS) - loc) * scale, axis=1)
        return tf.sigmoid((np.float32(self.z_threshold) - z) / np.float32(self.z_scale))

    def _fused(self):
        """Block matrices over all parts: mean [D], squares [D, P], projection [D, K], sums [K, P]."""
        dims = [p.mean.shape[0] for p in self.parts]
        ranks = [p.directions.shape[1] for p in self.parts]
        squares = np.zeros((sum(dims), len(self.parts)), np.float32)
        projection = np.zeros((sum(dims), sum(ranks)), np.float32)
        sums = np.zeros((sum(ranks), len(self.parts)), np.float32)
        d0 = k0 = 0
        for i, (part, d, k) in enumerate(zip(self.parts, dims, ranks, strict=True)):
            squares[d0 : d0 + d, i] = part.inv_residual
            weights = np.sqrt(np.maximum(part.inv_residual - part.inv_variances, 0.0))
            projection[d0 : d0 + d, k0 : k0 + k] = part.directions * weights
            sums[k0 : k0 + k, i] = 1.0
            d0, k0 = d0 + d, k0 + k
        mean = np.concatenate([p.mean for p in self.parts]).astype(np.float32)
        loc = np.array([p.loc for p in self.parts], np.float32)
        scale = np.array([1.0 / p.scale for p in self.parts], np.float32)
        return tuple(tf.constant(a) for a in (mean, squares, projection, sums, loc, scale))

    def refused(self, features: dict[str, np.ndarray]) -> np.ndarray:
        return self.score(features) < self.threshold

    def metadata(self) -> dict:
        """What metadata.json["guard"] holds (GET /model shows it; the quality gate checks it)."""
        return {
            "output": OUTPUT_KEY,
            "threshold": float(self.threshold),
            "method": METHOD,
            "feature_layer": self.feature_layer,
            "parts": [p.name for p in self.parts],
            **({"backbone_layer": self.backbone_layer} if self.backbone_layer else {}),
            "rank": int(self.parts[0].directions.shape[1]) if self.parts else 0,
            **self.info,
        }

    def summary(self) -> str:
        v = self.info.get("validation", {})
        where = f"{self.feature_layer}/{self.backbone_layer}" if self.backbone_layer else self.feature_layer
        return (
            f"{METHOD} on {where} ({', '.join(p.name for p in self.parts)}): threshold "
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
