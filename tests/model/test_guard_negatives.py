"""The not-a-lesion guard with negatives (issue 14): linear lesion-vs-negative parts on a backbone
layer that training keeps frozen, combined by their maximum; the degraded lesion photos it learns
to refuse; the packaged negatives (features, not images) and the probe that proves they fit the
model; the backbone freeze (train.py --freeze-through) that keeps that layer at ImageNet's."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from lesion_model.architectures import BACKBONE_NAME, make_model, set_backbone_trainable
from lesion_model.export import extract, make_tarball, read_metadata, write_artifact_dir
from lesion_model.guard import (
    COMBINE_MAX,
    LAYER_PARTS,
    NEGATIVES_FILE,
    NEGATIVES_LAYER,
    SCORE_THRESHOLD,
    LesionGuard,
    LinearPart,
    Part,
    degraded,
    extract_features,
    fit_guard_with_negatives,
    load_negatives,
    negatives_match,
    probe_image,
)

from .helpers import SIZE, lesion_image
from .test_guard import decode, not_a_lesion

# Two layers the small test model has at 64 px, as NEGATIVES_LAYER joins five in production.
LAYER = "block_2_expand_relu+block_5_expand_relu"
TOP = "block_5_expand_relu"  # the last of them: train.py --freeze-through keeps it and all below frozen


# ----------------------------------------------------------------------------- numbers only
def test_linear_part_separates_two_clouds_and_folds_its_standardisation(rng):
    pos = rng.normal(0, 1, (400, 12)) * np.linspace(5, 0.5, 12) + 100.0  # raw scale far from 0/1
    neg = pos[:200] + np.r_[25.0, np.zeros(11)]  # 5 standard deviations along the first axis
    part = LinearPart.fit("photo", ("a",), pos, neg, l2=1.0)
    d_pos, d_neg = part.log_distance(pos), part.log_distance(neg)
    assert np.mean(d_pos < 0) > 0.95 and np.mean(d_neg > 0) > 0.95  # distance = -logit
    # The same optimum as scikit-learn's L2 logistic regression (C = 1 / l2, balanced classes) on
    # standardised features: the standardisation is folded into the weights exactly.
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x, y = np.vstack([pos, neg]), np.r_[np.ones(400), np.zeros(200)]
    scaler = StandardScaler().fit(x)
    reference = LogisticRegression(C=1.0, class_weight="balanced", tol=1e-10, max_iter=10_000)
    reference.fit(scaler.transform(x), y)
    np.testing.assert_allclose(
        -part.log_distance(x), reference.decision_function(scaler.transform(x)), atol=1e-3
    )
    assert part.n_negatives == 200 and part.weights.shape == (12,)
    with pytest.raises(ValueError):
        LinearPart.fit("photo", ("a",), pos, neg[:1], l2=1.0)


def test_max_combination_refuses_what_any_part_refuses_and_graph_agrees(rng):
    lesions = {"a": rng.normal(0, 1, (300, 8)), "b": rng.normal(0, 1, (300, 8))}
    photo = LinearPart.fit("photo", ("a", "b"), np.hstack([lesions["a"], lesions["b"]]),
                           np.hstack([lesions["a"][:100] + 3, lesions["b"][:100]]), l2=1.0)  # fmt: skip
    density = Part.fit("b", lesions["b"], rank=4, shrink=0.1)
    for part, d in ((photo, photo.log_distance(np.hstack([lesions["a"], lesions["b"]]))),
                    (density, density.log_distance(lesions["b"]))):  # fmt: skip
        part.loc, part.scale = float(np.median(d)), float(np.std(d))
    guard = LesionGuard([photo, density], z_threshold=2.5, z_scale=1.0, combine=COMBINE_MAX)
    probe = {"a": rng.normal(0, 1, (40, 8)), "b": rng.normal(0, 1, (40, 8))}
    probe["a"][:10] += 4  # only the photo part sees these
    probe["b"][10:20] *= 6  # only the density part sees these
    refused = guard.refused(probe)
    assert refused[:20].mean() >= 0.9 and refused[20:].mean() <= 0.2
    graph = guard.tf_score({k: tf.constant(v, tf.float32) for k, v in probe.items()}).numpy()
    np.testing.assert_allclose(graph, guard.score(probe), atol=2e-4)
    meta = json.loads(json.dumps(guard.metadata()))
    assert meta["method"] == "mahalanobis-ppca+linear-with-negatives" and meta["combine"] == "max"


def test_degraded_makes_four_bad_photos_of_each_lesion(rng):
    images = rng.integers(60, 200, (3, 48, 48, 3)).astype(np.uint8)
    bad = degraded(images, seed=1)
    assert bad.shape == (12, 48, 48, 3) and bad.dtype == np.uint8
    plain, blur, dark, bright = bad[:3], bad[3:6], bad[6:9], bad[9:]
    assert dark.mean() < 0.25 * images.mean()
    assert bright.mean() > 1.4 * images.mean() and (bright == 255).mean() > 0.3
    assert (
        np.abs(np.diff(blur.astype(float), axis=1)).mean()
        < 0.5 * np.abs(np.diff(images.astype(float), axis=1)).mean()
    )
    assert plain.shape == images.shape
    np.testing.assert_array_equal(degraded(images, seed=1), bad)  # reproducible


def test_probe_image_is_fixed():
    np.testing.assert_array_equal(probe_image(32), probe_image(32))
    assert probe_image(32).shape == (1, 32, 32, 3) and probe_image(32).std() > 20


def test_several_layers_give_their_means_then_their_spreads_side_by_side(rng):
    model = make_model("mobilenet_v2", SIZE, None)
    images = rng.integers(0, 255, (3, SIZE, SIZE, 3)).astype(np.float32)
    both = extract_features(model, images, 3, LAYER)
    first, second = (extract_features(model, images, 3, name) for name in LAYER.split("+"))
    for name in LAYER_PARTS:
        np.testing.assert_allclose(both[name], np.hstack([first[name], second[name]]), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(both["pooled"], first["pooled"], rtol=1e-5, atol=1e-6)  # the same model


def test_production_layers_are_all_below_the_freeze():
    from lesion_model.guard import backbone_layers
    from train import FREEZE_THROUGH_DEFAULT

    model = make_model("mobilenet_v2", 192, None)
    names = [layer.name for layer in model.get_layer(BACKBONE_NAME).layers]
    layers = backbone_layers(NEGATIVES_LAYER)
    assert len(layers) == 5 and layers[-1] == FREEZE_THROUGH_DEFAULT
    assert all(names.index(a) < names.index(b) for a, b in zip(layers[:-1], layers[1:], strict=True))


# ----------------------------------------------------------------------------- the freeze
def test_freeze_through_keeps_that_layer_and_all_below_it_frozen():
    model = make_model("mobilenet_v2", SIZE, None)
    backbone = model.get_layer(BACKBONE_NAME)
    names = [layer.name for layer in backbone.layers]
    n = set_backbone_trainable(model, 1.0, freeze_through=TOP)
    cut = names.index(TOP)
    assert not any(layer.trainable for layer in backbone.layers[: cut + 1])
    assert n == sum(1 for layer in backbone.layers[cut + 1 :] if layer.weights and layer.trainable) > 0
    assert set_backbone_trainable(model, 1.0) > n  # without it, everything above BN is trainable
    with pytest.raises(ValueError, match="no layer"):
        set_backbone_trainable(model, 1.0, freeze_through="no_such_layer")


def test_training_with_freeze_through_leaves_the_layer_output_unchanged(rng):
    from lesion_model.training import FitConfig, fit

    keras.utils.set_random_seed(3)
    model = make_model("mobilenet_v2", SIZE, None, head="binary")
    images = rng.integers(0, 255, (32, SIZE, SIZE, 3)).astype(np.float32)
    labels = (np.arange(32) % 2).astype(np.float32)
    before = extract_features(model, images[:4], 4, LAYER)
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(8)
    fit(model, ds, None, FitConfig(epochs=2, learning_rate=1e-2, head_epochs=1, freeze_through=TOP))
    after = extract_features(model, images[:4], 4, LAYER)
    for name in LAYER_PARTS:
        np.testing.assert_allclose(after[name], before[name], rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- negatives file
def test_load_negatives_and_the_probe_check(tmp_path):
    keras.utils.set_random_seed(5)
    model = make_model("mobilenet_v2", SIZE, None)
    found = extract_features(model, probe_image(SIZE), 1, LAYER)
    arrays = {f"{SIZE}/{k}": np.repeat(v, 3, axis=0) for k, v in found.items()}
    arrays.update({f"{SIZE}/probe/{k}": v for k, v in found.items()})
    path = str(tmp_path / "neg.npz")
    np.savez_compressed(path, info=np.array(json.dumps({"layer": LAYER})), **arrays)
    negatives = load_negatives(path, SIZE)
    assert negatives["layer"] == LAYER and negatives["parts"]["layer_mean"].shape[0] == 3
    assert (
        load_negatives(path, SIZE + 32) is None and load_negatives(str(tmp_path / "none.npz"), SIZE) is None
    )
    assert negatives_match(model, negatives, SIZE)
    keras.utils.set_random_seed(6)
    other = make_model("mobilenet_v2", SIZE, None)  # other weights: its layer computes something else
    assert not negatives_match(other, negatives, SIZE)
    # train.py uses them only when every one of their layers is at or below --freeze-through.
    from types import SimpleNamespace

    import train
    from lesion_model import guard as g

    def used(freeze_through: str, with_model=model) -> bool:
        args = SimpleNamespace(guard_negatives=path, image_size=SIZE, freeze_through=freeze_through)
        return train._guard_negatives(args, with_model, g) is not None

    assert used(TOP) and used("block_6_expand_relu")
    assert not used("block_3_expand_relu")  # block_5 would be fine-tuned
    assert not used("none") and not used(TOP, other)


def test_packaged_negatives_are_features_of_half_a_made_with_the_shipped_weights():
    """The file the SageMaker job trains with: features only, at both sizes, the design half of the
    classes (half B stays unseen for the figures in docs/model.md), and they match the shipped
    ImageNet weights (the probe agrees), so train.py will use them."""
    from evaluate_guard import half

    with np.load(NEGATIVES_FILE) as data:
        info = json.loads(str(data["info"]))
        assert all(k.split("/")[0] in ("192", "224") for k in data.files if k != "info")
    assert info["layer"] == NEGATIVES_LAYER and info["half"] == "A"
    assert info["classes"] and all(half(c) == "A" for c in info["classes"])
    negatives = load_negatives(NEGATIVES_FILE, 192)
    assert negatives["parts"]["layer_mean"].shape[0] == len(info["classes"])
    model = make_model("mobilenet_v2", 192, "imagenet", head="diagnosis")
    assert negatives_match(model, negatives, 192)


# ----------------------------------------------------------------------------- in the graph
@pytest.fixture(scope="module")
def guarded(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("guarded_negatives")
    keras.utils.set_random_seed(7)
    model = make_model("mobilenet_v2", SIZE, None)
    rng = np.random.default_rng(21)
    train = np.stack([decode(lesion_image(i % 2 == 0, rng)) for i in range(120)]).astype(np.uint8)
    val = np.stack([decode(lesion_image(i % 2 == 0, rng)) for i in range(60)]).astype(np.uint8)
    photos = np.stack([decode(not_a_lesion(rng, i % 3)) for i in range(60)])
    negatives = extract_features(model, photos, 16, LAYER)
    guard = fit_guard_with_negatives(
        model, train, val, {k: negatives[k] for k in LAYER_PARTS}, val_sources=["a", "b"] * 30,
        batch_size=16, backbone_layer=LAYER, refuse_rate=0.02, quality_images=60,
    )  # fmt: skip
    model_dir = str(out / "model_dir")
    write_artifact_dir(model, SIZE, model_dir, {"version": "test-negatives", "threshold": 0.5}, guard=guard)
    make_tarball(model_dir, str(out / "model.tar.gz"))
    saved = extract(str(out / "model.tar.gz"), str(out / "unpacked"))
    return {"model": model, "guard": guard, "package": str(out / "model.tar.gz"), "saved_model": saved}


def test_guard_with_negatives_metadata(guarded):
    meta = read_metadata(guarded["package"])["guard"]
    assert meta["method"] == "linear-with-negatives" and meta["parts"] == ["photo", "quality"]
    assert (
        meta["combine"] == "max" and meta["backbone_layer"] == LAYER and meta["threshold"] == SCORE_THRESHOLD
    )
    assert set(meta["validation"]["by_source"]) == {"a", "b"}
    assert meta["fitted_on"]["n_photo_negatives"] == 60 and meta["fitted_on"]["n_quality_negatives"] == 240


def test_served_guard_passes_lesions_and_refuses_photos_and_bad_lesion_photos(guarded):
    from .tfs_session_run import ServingSession

    session = ServingSession(guarded["saved_model"])
    rng = np.random.default_rng(77)
    lesions = [lesion_image(i % 2 == 0, rng) for i in range(6)]
    others = [not_a_lesion(rng, kind) for kind in range(3)]
    dark = tf.io.encode_jpeg(degraded(np.stack([decode(lesions[0]).astype(np.uint8)]), seed=3)[2]).numpy()
    names = session.names
    _, scores = session.session.run(
        [names["probabilities"], names["lesion_score"]], {names["image_bytes"]: lesions + others + [dark]}
    )
    assert np.all(scores[:6] >= SCORE_THRESHOLD), scores
    assert np.all(scores[6:] < SCORE_THRESHOLD), scores


def test_the_training_code_package_carries_the_negatives_and_not_the_images():
    """The SageMaker job runs from model_src/ as uploaded by the stack: the features file is in it,
    and no image of the negatives folders is."""
    import io
    import tarfile

    from stacks.constructs.dataset import MODEL_SRC, deterministic_targz

    with tarfile.open(fileobj=io.BytesIO(deterministic_targz(MODEL_SRC))) as tar:
        names = tar.getnames()
    assert "lesion_model/data/guard_negatives.npz" in names
    assert not [n for n in names if n.lower().endswith((".jpg", ".jpeg", ".png", ".webp"))]


def test_reframed_lesions_are_turned_and_zoomed_copies(rng):
    from lesion_model.guard import reframed

    images = rng.integers(80, 200, (4, 48, 48, 3)).astype(np.uint8)
    out = reframed(images, seed=2)
    assert out.shape == images.shape and out.dtype == np.uint8
    assert not np.array_equal(out, images)
    np.testing.assert_array_equal(reframed(images, seed=2), out)  # reproducible
