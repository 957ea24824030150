"""The not-a-lesion guard: fitting without negatives, the threshold rule, and the guard in the
exported graph (a lesion image passes, a non-lesion image is refused, the threshold in
metadata.json decides), loaded the way TF Serving loads it, in TF 2.21 and in 2.20."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from lesion_model.architectures import make_model
from lesion_model.export import extract, make_tarball, read_metadata, write_artifact_dir
from lesion_model.guard import (
    FEATURE_LAYER,
    SCORE_THRESHOLD,
    extract_features,
    feature_layer,
    fit_guard,
    fit_guard_from_features,
    image_statistics,
)
from PIL import Image

from .helpers import SIZE, lesion_image


def decode(blob: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(blob)).convert("RGB").resize((SIZE, SIZE)), dtype=np.float32)


def not_a_lesion(rng: np.random.Generator, kind: int) -> bytes:
    """Pictures that are plainly no dermoscopy: a street-like scene, a screenshot, a leafy texture."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    if kind == 0:  # sky, ground and a grey building
        img = np.where(yy[..., None] < 0.5, [90, 150, 235], [60, 140, 50]).astype(float)
        img[20:50, 10:30] = [120, 120, 125]
    elif kind == 1:  # white page with black text lines
        img = np.full((SIZE, SIZE, 3), 250.0)
        for row in range(6, SIZE - 6, 8):
            img[row : row + 3, 6 : 6 + rng.integers(20, SIZE - 12)] = 10
    else:  # high-frequency green texture
        img = np.stack([20 + 40 * np.sin(40 * xx), 120 + 100 * np.sin(35 * yy) ** 2, 30 + 0 * xx], -1)
    img = np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(img).save(buffer, format="JPEG")
    return buffer.getvalue()


# ----------------------------------------------------------------------------- numbers only
def gaussian_features(rng, n, shift=0.0):
    base = rng.normal(0, 1, (n, 40)) * np.linspace(3, 0.2, 40)
    return {"pooled": base + shift, "map_max": np.abs(base[:, :10]) + shift}


def test_threshold_rule_refuses_about_the_target_share_of_lesions_and_far_points(rng):
    train, val = gaussian_features(rng, 800), gaussian_features(rng, 400)
    guard = fit_guard_from_features(train, val, refuse_rate=0.05, margin=0.0, rank=8)
    assert guard.threshold == SCORE_THRESHOLD
    assert 0.02 <= guard.info["validation"]["lesion_refusal_rate"] <= 0.08
    new_lesions = gaussian_features(rng, 2000)
    assert 0.02 <= np.mean(guard.refused(new_lesions)) <= 0.09
    assert np.mean(guard.refused(gaussian_features(rng, 200, shift=4.0))) == 1.0
    scores = guard.score(new_lesions)
    assert scores.min() >= 0.0 and scores.max() <= 1.0 and np.median(scores) > 0.9


def test_margin_and_refuse_rate_move_the_threshold_the_documented_way(rng):
    train, val = gaussian_features(rng, 600), gaussian_features(rng, 300)
    lenient = fit_guard_from_features(train, val, refuse_rate=0.01, margin=1.0)
    strict = fit_guard_from_features(train, val, refuse_rate=0.10, margin=0.0)
    probe = gaussian_features(rng, 1000, shift=0.8)
    assert np.mean(strict.refused(probe)) > np.mean(lenient.refused(probe))
    with pytest.raises(ValueError):
        fit_guard_from_features(train, val, refuse_rate=0.0)
    with pytest.raises(ValueError):
        fit_guard_from_features(train, val, parts=("no_such_part",))


def test_numpy_and_graph_scores_agree(rng):
    train, val = gaussian_features(rng, 300), gaussian_features(rng, 100)
    guard = fit_guard_from_features(train, val, rank=16)
    probe = gaussian_features(rng, 50, shift=rng.normal(0, 2, (50, 1)))
    graph = guard.tf_score({k: tf.constant(v, tf.float32) for k, v in probe.items()}).numpy()
    np.testing.assert_allclose(graph, guard.score(probe), atol=2e-4)


def test_metadata_is_json_and_names_threshold_rule_and_validation(rng):
    guard = fit_guard_from_features(gaussian_features(rng, 200), gaussian_features(rng, 100))
    meta = json.loads(json.dumps(guard.metadata()))
    assert meta["output"] == "lesion_score" and meta["threshold"] == SCORE_THRESHOLD
    assert meta["feature_layer"] == FEATURE_LAYER and meta["parts"] == ["pooled", "map_max"]
    assert meta["validation"]["n"] == 100 and 0 <= meta["validation"]["lesion_refusal_rate"] <= 1
    assert "quantile" in meta["threshold_rule"] and meta["fitted_on"]["n_train"] == 200


def test_image_statistics_tell_dark_and_blown_out_pictures_apart():
    mid = np.full((1, 32, 32, 3), 128.0, np.float32)
    stats = image_statistics(tf.constant(np.concatenate([mid, mid * 0, mid * 0 + 255]))).numpy()
    assert stats.shape == (3, 11)
    assert stats[1, 9] == 1.0 and stats[0, 9] == 0.0  # share of black pixels
    assert stats[2, 10] == 1.0 and stats[0, 10] == 0.0  # share of blown-out pixels


# ----------------------------------------------------------------------------- in the graph
def guarded_artifact(out) -> dict:
    """A small MobileNetV2 (random weights: the guard needs no trained classifier to tell generated
    lesions from pictures of other things), its guard fitted on generated lesions, the artifact."""
    keras.utils.set_random_seed(7)
    model = make_model("mobilenet_v2", SIZE, None)
    rng = np.random.default_rng(11)
    train = np.stack([decode(lesion_image(i % 2 == 0, rng)) for i in range(120)])
    val_images = np.stack([decode(lesion_image(i % 2 == 0, rng)) for i in range(60)])
    val = tf.data.Dataset.from_tensor_slices((val_images, np.zeros(60, np.int32)))  # as data.load_cached
    guard = fit_guard(model, train, val, batch_size=16, refuse_rate=0.02, margin=0.5)
    model_dir = str(out / "model_dir")
    meta = {"version": "test-guard", "threshold": 0.5}
    write_artifact_dir(model, SIZE, model_dir, meta, guard=guard)
    make_tarball(model_dir, str(out / "model.tar.gz"))
    saved = extract(str(out / "model.tar.gz"), str(out / "unpacked"))
    return {"model": model, "guard": guard, "package": str(out / "model.tar.gz"), "saved_model": saved}


@pytest.fixture(scope="module")
def guarded(tmp_path_factory) -> dict:
    return guarded_artifact(tmp_path_factory.mktemp("guarded"))


@pytest.fixture(scope="module")
def session(guarded):
    from .tfs_session_run import ServingSession

    return ServingSession(guarded["saved_model"])


def run_guarded(session, blobs):
    names = session.names
    feed = {names["image_bytes"]: list(blobs)}
    probabilities, scores = session.session.run([names["probabilities"], names["lesion_score"]], feed)
    return probabilities, scores


def test_guard_reads_the_pooled_features_layer(guarded):
    assert feature_layer(guarded["model"]).name == FEATURE_LAYER
    assert guarded["guard"].metadata()["parts"] == ["pooled", "map_std", "map_max", "image_stats"]


def test_signature_has_probabilities_and_lesion_score(guarded):
    sig = tf.saved_model.load(guarded["saved_model"]).signatures["serving_default"]
    outputs = sig.structured_outputs
    assert outputs["probabilities"].shape.as_list() == [None, 2]
    assert outputs["lesion_score"].shape.as_list() == [None] and outputs["lesion_score"].dtype == tf.float32


def test_metadata_carries_the_guard_threshold(guarded):
    meta = read_metadata(guarded["package"])
    assert meta["guard"] == json.loads(json.dumps(guarded["guard"].metadata()))
    assert meta["guard"]["threshold"] == 0.5 and meta["version"] == "test-guard"


def test_lesion_passes_and_non_lesions_are_refused_by_the_metadata_threshold(guarded, session):
    rng = np.random.default_rng(99)
    lesions = [lesion_image(i % 2 == 0, rng) for i in range(6)] + [
        lesion_image(True, rng, size=200, fmt="PNG")
    ]
    others = [not_a_lesion(rng, kind) for kind in range(3)]
    threshold = read_metadata(guarded["package"])["guard"]["threshold"]
    probabilities, scores = run_guarded(session, lesions + others)
    assert probabilities.shape == (10, 2) and scores.shape == (10,)
    assert np.all((scores >= 0) & (scores <= 1))
    assert np.all(scores[:7] >= threshold), scores
    assert np.all(scores[7:] < threshold), scores


def test_served_scores_match_the_python_guard(guarded, session):
    rng = np.random.default_rng(5)
    blobs = [lesion_image(True, rng), not_a_lesion(rng, 0)]
    _, served = run_guarded(session, blobs)
    features = extract_features(guarded["model"], np.stack([decode(b) for b in blobs]))
    # The graph decodes with TF, the reference with Pillow: the same pixels up to JPEG rounding.
    np.testing.assert_allclose(served, guarded["guard"].score(features), atol=0.05)


def test_probabilities_are_unchanged_by_the_guard(guarded, session, tmp_path):
    from lesion_model.export import export_saved_model

    from .tfs_session_run import session_run

    plain = str(tmp_path / "plain")
    export_saved_model(guarded["model"], SIZE, plain)
    rng = np.random.default_rng(3)
    blobs = [lesion_image(False, rng), not_a_lesion(rng, 1)]
    without, names = session_run(plain, blobs)
    assert "lesion_score" not in names  # no guard: the signature stays the original one
    with_guard, _ = run_guarded(session, blobs)
    np.testing.assert_allclose(with_guard, without, atol=1e-6)


GUARD_RUN = """
import json, sys
import tensorflow as tf
sess = tf.compat.v1.Session(graph=tf.Graph())
sig = tf.compat.v1.saved_model.loader.load(sess, ["serve"], sys.argv[1]).signature_def["serving_default"]
blobs = [open(p, "rb").read() for p in sys.argv[2:]]
p, s = sess.run([sig.outputs["probabilities"].name, sig.outputs["lesion_score"].name],
                {sig.inputs["image_bytes"].name: blobs})
print(json.dumps({"tf": tf.__version__, "probabilities": p.tolist(), "lesion_score": s.tolist()}))
"""


def test_inference_container_tensorflow_2_20_serves_the_guard(guarded, session, tmp_path):
    python = os.environ.get("SKINLESION_TF_SERVING_PYTHON")
    if not python or not os.path.isfile(python):
        pytest.skip("SKINLESION_TF_SERVING_PYTHON (the TF 2.20 venv; `make .venv-tf220/.stamp`) is not set")
    rng = np.random.default_rng(8)
    blobs = [lesion_image(True, rng), not_a_lesion(rng, 2)]
    files = []
    for i, blob in enumerate(blobs):
        files.append(tmp_path / f"img{i}")
        files[-1].write_bytes(blob)
    script = tmp_path / "guard_run.py"
    script.write_text(GUARD_RUN)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(
        [python, str(script), guarded["saved_model"], *map(str, files)],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["tf"].startswith("2.20.")
    probabilities, scores = run_guarded(session, blobs)
    np.testing.assert_allclose(answer["probabilities"], probabilities, atol=1e-5)
    np.testing.assert_allclose(answer["lesion_score"], scores, atol=1e-5)
    assert answer["lesion_score"][0] >= 0.5 > answer["lesion_score"][1]


def test_old_models_without_pooled_features_fall_back_to_their_global_pooling():
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(4, 3)(inputs)
    pooled = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    model = keras.Model(inputs, keras.layers.Dense(1)(pooled))
    assert feature_layer(model).name == "gap"
    features = extract_features(model, np.zeros((3, SIZE, SIZE, 3), np.float32))
    assert features["pooled"].shape == (3, 4) and features["image_stats"].shape == (3, 11)
    with pytest.raises(ValueError):
        feature_layer(keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)]))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))


def test_guard_on_a_backbone_layer_serves_the_same_probabilities_and_its_own_score(tmp_path):
    """guard.DEFAULT_BACKBONE_LAYER (what train.py fits): the graph reads that layer inside the
    backbone in the same pass; probabilities equal the plain export's, scores the numpy guard's."""
    from lesion_model.export import export_saved_model
    from lesion_model.guard import LAYER_PARTS, default_backbone_layer, serving_model

    from .tfs_session_run import ServingSession, session_run

    keras.utils.set_random_seed(3)
    model = make_model("mobilenet_v2", SIZE, None, head="diagnosis")
    layer = default_backbone_layer(model)
    assert layer == "block_13_expand_relu"
    rng = np.random.default_rng(21)
    train = np.stack([decode(lesion_image(i % 2 == 0, rng)) for i in range(60)])
    val = np.stack([decode(lesion_image(i % 2 == 0, rng)) for i in range(30)])
    np.testing.assert_allclose(serving_model(model, layer)(val[:4])["logit"], model(val[:4]), atol=1e-6)
    guard = fit_guard(model, train, val, batch_size=16, backbone_layer=layer)
    meta = guard.metadata()
    assert meta["backbone_layer"] == layer and meta["parts"] == list(LAYER_PARTS)
    assert "backbone_layer" not in fit_guard_from_features(*[gaussian_features(rng, 50)] * 2).metadata()
    write_artifact_dir(model, SIZE, str(tmp_path / "guarded"), {"version": "t"}, guard=guard)
    export_saved_model(model, SIZE, str(tmp_path / "plain"))
    blobs = [lesion_image(True, rng), not_a_lesion(rng, 0), not_a_lesion(rng, 2)]
    without, _ = session_run(str(tmp_path / "plain"), blobs)
    probabilities, scores = run_guarded(ServingSession(str(tmp_path / "guarded" / "model" / "1")), blobs)
    np.testing.assert_allclose(probabilities, without, atol=1e-6)
    features = extract_features(model, np.stack([decode(b) for b in blobs]), backbone_layer=layer)
    np.testing.assert_allclose(scores, guard.score(features), atol=0.05)
