"""The guard's third part, lesions against clinical photographs of skin (issue 14): fitted once by
model_src/guard_clinical.py and shipped as a weight vector only (the photographs' licence forbids
shipping them), added by train.py when its frozen layer matches, and moved CLINICAL_EXTRA_MARGIN
validation standard deviations out."""

from __future__ import annotations

import json
import os
from types import SimpleNamespace

import keras
import numpy as np
import pytest
import tensorflow as tf
from lesion_model.architectures import make_model
from lesion_model.guard import (
    CLINICAL,
    CLINICAL_EXTRA_MARGIN,
    CLINICAL_FILE,
    COMBINE_MAX,
    LAYER_PARTS,
    NEGATIVES_LAYER,
    LinearPart,
    extract_features,
    fit_guard_with_negatives,
    lesion_ids,
    load_clinical,
    negatives_match,
    positive_features,
    probe_image,
    save_clinical,
)

from .helpers import SIZE, lesion_image
from .test_guard import decode, not_a_lesion

LAYER = "block_5_expand_relu"  # a layer the small test model has at 64 px (NEGATIVES_LAYER in production)


def _joined(found: dict) -> np.ndarray:
    return np.concatenate([found[name] for name in LAYER_PARTS], axis=1)


@pytest.fixture(scope="module")
def small() -> dict:
    keras.utils.set_random_seed(11)
    model = make_model("mobilenet_v2", SIZE, None)
    rng = np.random.default_rng(5)
    train = np.stack([decode(lesion_image(i % 2 == 0, rng)) for i in range(80)]).astype(np.uint8)
    val = np.stack([decode(lesion_image(i % 2 == 0, rng)) for i in range(40)]).astype(np.uint8)
    photos = np.stack([decode(not_a_lesion(rng, i % 3)) for i in range(30)])
    # Stand-ins for clinical photographs: the not-a-lesion kinds the photo part does not see.
    clinical = np.stack([decode(not_a_lesion(rng, 2)) for _ in range(30)])
    return {
        "model": model,
        "train": train,
        "val": val,
        "photos": {k: v for k, v in extract_features(model, photos, 16, LAYER).items() if k in LAYER_PARTS},
        "clinical": {
            k: v for k, v in extract_features(model, clinical, 16, LAYER).items() if k in LAYER_PARTS
        },
    }


def _fit(small, **kwargs):
    return fit_guard_with_negatives(
        small["model"], small["train"], small["val"], small["photos"], val_sources=["a", "b"] * 20,
        batch_size=16, backbone_layer=LAYER, refuse_rate=0.02, quality_images=40, **kwargs,
    )  # fmt: skip


def test_positive_features_are_five_views_of_each_lesion(small):
    from lesion_model.artefacts import with_artefacts

    found = positive_features(small["model"], small["train"][:5], 16, LAYER, seed=0)
    plain = _joined(extract_features(small["model"], small["train"][:5], 16, LAYER))
    assert found.shape == (25, plain.shape[1])
    drawn = _joined(extract_features(small["model"], with_artefacts(small["train"][:5], 1), 16, LAYER))
    np.testing.assert_allclose(found[20:], drawn, rtol=1e-5, atol=1e-6)  # with artefacts come last
    np.testing.assert_allclose(found[:5], plain, rtol=1e-5, atol=1e-6)  # the images themselves come first


def test_clinical_part_fitted_from_features_is_third_and_moved_out(small):
    without = _fit(small)
    guard = _fit(small, clinical=small["clinical"])
    assert [p.name for p in guard.parts] == ["photo", "quality", CLINICAL] and guard.combine == COMBINE_MAX
    # The first two parts are exactly those of the guard without it (same data, same seed).
    for a, b in zip(without.parts, guard.parts[:2], strict=True):
        np.testing.assert_allclose(a.weights, b.weights)
    part = guard.parts[2]
    d = part.log_distance(_joined(extract_features(small["model"], small["val"], 16, LAYER)))
    assert part.loc == pytest.approx(np.median(d) + CLINICAL_EXTRA_MARGIN * np.std(d))
    assert part.n_negatives == 30
    meta = json.loads(json.dumps(guard.metadata()))
    assert meta["parts"] == ["photo", "quality", CLINICAL]
    assert meta["fitted_on"]["n_clinical_negatives"] == 30
    assert meta["fitted_on"]["clinical_margin"] == CLINICAL_EXTRA_MARGIN
    assert "clinical photographs" in meta["threshold_rule"]
    assert "n_clinical_negatives" not in without.metadata()["fitted_on"]
    # Its photos are refused; the validation lesions stay within the refusal budget.
    assert np.mean(guard.refused(small["clinical"])) > 0.9
    assert guard.info["validation"]["lesion_refusal_rate"] <= 0.05


def test_prefitted_clinical_part_is_used_as_given_and_not_changed(small):
    positives = positive_features(small["model"], small["train"], 16, LAYER)
    prefitted = LinearPart.fit(CLINICAL, LAYER_PARTS, positives, _joined(small["clinical"]), l2=1.0)
    before = prefitted.weights.copy()
    guard = _fit(small, clinical=prefitted, clinical_margin=0.0)
    used = guard.parts[2]
    np.testing.assert_array_equal(used.weights, before)
    assert used.bias == prefitted.bias and used is not prefitted
    np.testing.assert_array_equal(prefitted.weights, before)
    assert prefitted.loc == 0.0  # the caller's copy keeps no validation statistics
    d = used.log_distance(_joined(extract_features(small["model"], small["val"], 16, LAYER)))
    assert used.loc == pytest.approx(np.median(d))  # margin 0: not moved


def test_three_parts_in_the_graph_agree_with_numpy(small, rng):
    guard = _fit(small, clinical=small["clinical"])
    probe = {k: np.concatenate([small["photos"][k], small["clinical"][k]]) for k in LAYER_PARTS}
    probe = {k: v + rng.normal(0, 0.01, v.shape) for k, v in probe.items()}
    graph = guard.tf_score({k: tf.constant(v, tf.float32) for k, v in probe.items()}).numpy()
    np.testing.assert_allclose(graph, guard.score(probe), atol=2e-4)


def test_save_and_load_clinical_part_with_its_probe(small, tmp_path):
    model = small["model"]
    part = LinearPart(CLINICAL, LAYER_PARTS, np.arange(6, dtype=float), -2.5, n_negatives=9)
    probe = extract_features(model, probe_image(SIZE), 1, LAYER)
    path = str(tmp_path / "clinical.npz")
    save_clinical(path, {SIZE: (part, probe)}, {"layer": LAYER, "half": "A"})
    loaded = load_clinical(path, SIZE)
    assert loaded["layer"] == LAYER and loaded["info"]["half"] == "A"
    np.testing.assert_array_equal(loaded["part"].weights, part.weights)
    assert loaded["part"].bias == -2.5 and loaded["part"].n_negatives == 9 and loaded["part"].name == CLINICAL
    assert negatives_match(model, loaded, SIZE)
    keras.utils.set_random_seed(12)
    assert not negatives_match(make_model("mobilenet_v2", SIZE, None), loaded, SIZE)
    assert load_clinical(path, SIZE + 32) is None and load_clinical(str(tmp_path / "no.npz"), SIZE) is None
    with np.load(path) as data:  # one direction per size: nothing per photograph
        assert sorted(data.files) == sorted(
            ["info", f"{SIZE}/weights", f"{SIZE}/bias", f"{SIZE}/n_negatives"]
            + [f"{SIZE}/probe/{name}" for name in LAYER_PARTS]
        )


def test_clinical_part_file_lists_the_lesions_it_was_fitted_on(small, tmp_path):
    part = LinearPart(CLINICAL, LAYER_PARTS, np.ones(4), 0.0, n_negatives=3)
    probe = extract_features(small["model"], probe_image(SIZE), 1, LAYER)
    ids = lesion_ids(
        ["/data/isic-dev/benign/ISIC_1.jpg", "x/malignant/ISIC_2.jpg"], ["isic-dev", "isic-2017"]
    )
    assert ids == ["isic-dev/ISIC_1.jpg", "isic-2017/ISIC_2.jpg"]  # where the data lies does not matter
    path = str(tmp_path / "clinical.npz")
    save_clinical(path, {SIZE: (part, probe)}, {"layer": LAYER}, positives={SIZE: ids})
    assert load_clinical(path, SIZE)["positives"] == set(ids)
    save_clinical(path, {SIZE: (part, probe)}, {"layer": LAYER})
    assert load_clinical(path, SIZE)["positives"] is None  # an older file: not known


def test_train_records_how_many_held_out_lesions_the_clinical_part_was_fitted_on(caplog):
    """The threshold is set on the validation lesions: a clinical part fitted on some of them
    scores them too well and the threshold comes out low, so train.py says how many it saw."""
    import train
    from lesion_model import guard as g

    def part(names, source="isic-dev"):
        split = SimpleNamespace(
            paths=[f"/d/{source}/benign/{n}" for n in names], sources=[source] * len(names)
        )
        return SimpleNamespace(split=split)

    parts = {"train": part(["a.jpg", "b.jpg"]), "val": part(["c.jpg", "d.jpg"]), "test": part(["e.jpg"])}
    clean = {"positives": {"isic-dev/a.jpg", "isic-dev/b.jpg", "isic-2017/z.jpg"}}
    assert train._clinical_overlap(g, clean, parts) == {"val": 0, "test": 0}
    assert "held-out" not in caplog.text
    leaky = {"positives": {"isic-dev/a.jpg", "isic-dev/c.jpg", "isic-dev/d.jpg", "isic-dev/e.jpg"}}
    assert train._clinical_overlap(g, leaky, parts) == {"val": 2, "test": 1}
    assert "held-out lesions" in caplog.text
    assert train._clinical_overlap(g, {"positives": None}, parts) == "unknown"
    no_test = {k: v for k, v in parts.items() if k != "test"}
    assert train._clinical_overlap(g, leaky, no_test) == {"val": 2}
    # The same ISIC image under another source folder (the SageMaker job's ISIC Archive import).
    moved = {"positives": {"isic-2017/c.jpg"}}
    assert train._clinical_overlap(g, moved, parts) == {"val": 1, "test": 0}


def test_guard_clinical_fits_on_the_default_models_training_split():
    """guard_clinical.py's split settings are make train-default-model's, so none of the default
    model's validation or test lesions is a positive of the shipped clinical part."""
    import re

    import guard_clinical

    from .helpers import REPO

    with open(os.path.join(REPO, "Makefile")) as f:
        text = f.read().replace("\\\n", " ")
    flags = re.search(r"^DEFAULT_MODEL_FLAGS :=(.*)$", text, re.MULTILINE).group(1).split()
    wanted = {flag: flags[flags.index(flag) + 1] for flag in ("--val-fraction", "--test-fraction", "--seed")}
    args = guard_clinical.parse_args(["--out", "clinical.npz"])
    assert args.positives == "train-split"
    assert {"--val-fraction": str(args.val_fraction), "--test-fraction": str(args.test_fraction),
            "--seed": str(args.seed)} == wanted  # fmt: skip


def test_train_uses_the_clinical_part_only_when_it_fits(small, tmp_path):
    import train

    model = small["model"]
    part = LinearPart(CLINICAL, LAYER_PARTS, np.ones(4), 0.0, n_negatives=3)
    path = str(tmp_path / "clinical.npz")
    save_clinical(
        path, {SIZE: (part, extract_features(model, probe_image(SIZE), 1, LAYER))}, {"layer": LAYER}
    )
    from lesion_model import guard as g

    args = SimpleNamespace(guard_clinical=path, image_size=SIZE)
    assert train._guard_clinical(args, model, g, LAYER)["part"].n_negatives == 3
    assert train._guard_clinical(args, model, g, "block_4_expand_relu") is None  # another layer
    keras.utils.set_random_seed(13)
    assert train._guard_clinical(args, make_model("mobilenet_v2", SIZE, None), g, LAYER) is None
    assert (
        train._guard_clinical(SimpleNamespace(guard_clinical="none", image_size=SIZE), model, g, LAYER)
        is None
    )
    assert (
        train._guard_clinical(SimpleNamespace(guard_clinical=path, image_size=SIZE + 32), model, g, LAYER)
        is None
    )


def test_packaged_clinical_part_is_a_direction_fitted_on_half_a_with_the_shipped_weights():
    """The file the SageMaker job and `make train-default-model` use: per size one weight vector and
    bias and the probe (no photograph, no per-photograph feature), fitted on the design half of the
    conditions, with the licence named, matching the shipped ImageNet weights."""
    with np.load(CLINICAL_FILE) as data:
        info = json.loads(str(data["info"]))
        for key in data.files:
            if key != "info":
                assert key.split("/")[0] in ("192", "224")
                assert data[key].ndim == 1 or data[key].shape[0] == 1, key  # never one row per photograph
                assert (
                    not key.endswith("/positives") or data[key].dtype.kind == "U"
                )  # lesion ids, no features
    assert info["layer"] == NEGATIVES_LAYER and info["half"] == "A"
    assert "CC BY-NC-ND" in info["source"] and "DermNet" in info["source"]
    assert info["n_photographs"] > 100 and info["n_conditions"] > 50
    for size in (192, 224):  # fitted on train.py's training split: about 68 % of the 4,129 lesions
        ids = load_clinical(CLINICAL_FILE, size)["positives"]
        assert 2_500 < len(ids) < 3_000 and all(i.split("/")[0] in ("isic-dev", "isic-2017") for i in ids)
    assert "training split" in info["positives"]
    clinical = load_clinical(CLINICAL_FILE, 192)
    # The means and spreads of the five layers (block 3, 6, 10, 13, 16: 48 + 96 + 144 + 192 + 336 channels).
    assert clinical["part"].weights.shape == (2 * 816,)
    model = make_model("mobilenet_v2", 192, "imagenet", head="diagnosis")
    assert negatives_match(model, clinical, 192)


def test_the_training_code_package_carries_the_clinical_part():
    import io
    import tarfile

    from stacks.constructs.dataset import MODEL_SRC, deterministic_targz

    with tarfile.open(fileobj=io.BytesIO(deterministic_targz(MODEL_SRC))) as tar:
        assert "lesion_model/data/guard_clinical.npz" in tar.getnames()


def test_train_passes_guard_margin_and_the_clinical_part(monkeypatch):
    """--guard-margin reaches the fit (absent: the fit's default), and the clinical part with its
    provenance reaches the artifact's guard info."""
    import train
    from lesion_model import guard as g

    seen: list[dict] = []

    class Fitted:
        info: dict = {}

        def summary(self) -> str:
            return "stub"

    def fake_fit(*args, **kwargs):
        seen.append(kwargs)
        fitted = Fitted()
        fitted.info = {}
        return fitted

    part = LinearPart(CLINICAL, LAYER_PARTS, np.ones(4), 0.0, n_negatives=3)
    monkeypatch.setattr(g, "fit_guard_with_negatives", fake_fit)
    monkeypatch.setattr(train, "_guard_negatives", lambda *a: {"layer": LAYER, "parts": {}, "info": {}})
    monkeypatch.setattr(
        train, "_guard_clinical", lambda *a: {"part": part, "info": {"source": "s", "half": "A", "extra": 1}}
    )
    split = SimpleNamespace(
        images=np.zeros((2, 8, 8, 3), np.uint8), split=SimpleNamespace(sources=["a", "b"])
    )
    parts = {"train": split, "val": split}
    base = ["--train", "/data", "--arch", "mobilenet_v2"]
    fitted = train._fit_guard(train.parse_args(base + ["--guard-margin", "1.5"]), None, parts)
    assert seen[-1]["margin"] == 1.5 and seen[-1]["clinical"] is part
    assert fitted.info["clinical"] == {
        "source": "s", "half": "A", "n_photographs": None, "n_conditions": None, "positives": None,
        "weights_sha256": None, "held_out_lesions_it_was_fitted_on": "unknown",
    }  # fmt: skip
    train._fit_guard(train.parse_args(base), None, parts)
    assert "margin" not in seen[-1]


def test_watermark_free_views_never_show_the_bottom_left_corner():
    """The clinical part is fitted on crops that cannot contain the collection's watermark (bottom
    left): fitted on the photos as they are, it learned the watermark instead of clinical skin."""
    import io

    from guard_clinical import watermark_free_views
    from PIL import Image

    photo = Image.new("RGB", (400, 300), (200, 150, 130))
    photo.paste((0, 0, 255), (0, 210, 150, 300))  # where the watermark sits (x < 0.38, y > 0.68)
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", quality=95)
    views = watermark_free_views(buffer.getvalue())
    assert len(views) == 7
    for blob in views:
        pixels = np.asarray(Image.open(io.BytesIO(blob)).convert("RGB")).astype(int)
        blue = (pixels[..., 2] > 150) & (pixels[..., 0] < 100)
        assert not blue.any()
        assert min(pixels.shape[:2]) >= 150  # crops, not slivers


def test_evaluate_sets_reports_clinical_photos_with_and_without_the_watermark(tmp_path):
    """evaluate_guard.py's figures (docs/model.md) on a tiny generated data folder with a fake
    scorer: every set is counted, and held-out clinical photos are also scored as watermark-free
    crops (7 per photo) and as their centre half."""
    import csv as csv_module
    import io

    from evaluate_guard import evaluate_sets, half
    from PIL import Image

    def folder(name: str, header: list[str], rows: list[list[str]], colour) -> None:
        path = tmp_path / name
        path.mkdir()
        with open(path / "labels.csv", "w", newline="") as f:
            csv_module.writer(f).writerows([header, *rows])
        for row in rows:
            Image.new("RGB", (120, 90), colour).save(path / row[0], "JPEG")

    folder("isic-dev", ["file", "label"], [[f"l{i}.jpg", "benign"] for i in range(3)], (180, 120, 100))
    folder("not-lesion", ["file", "class_name"], [["n0.jpg", "cat"], ["n1.jpg", "dog"]], (20, 200, 20))
    conditions = ["Acne", "Eczema", "Psoriasis", "Urticaria", "Rosacea", "Tinea"]
    folder(
        "clinical-skin",
        ["file", "condition"],
        [[f"c{i}.jpg", c] for i, c in enumerate(conditions)],
        (220, 90, 90),
    )
    n_b = sum(half(c) == "B" for c in conditions)
    assert 0 < n_b < len(conditions)  # both halves present

    def score(blobs: list[bytes]) -> np.ndarray:
        # Green photos (not-lesion) score 0.1, everything else 0.9.
        means = [np.asarray(Image.open(io.BytesIO(b)).convert("RGB")).mean(axis=(0, 1)) for b in blobs]
        return np.array([0.1 if m[1] > m[0] else 0.9 for m in means])

    result = evaluate_sets(score, 0.5, str(tmp_path), hard_per_source=1)
    assert result["lesions"]["isic-dev"] == {"n": 3, "refused": 0.0} and "lesions_test_split" not in result
    held = evaluate_sets(
        score, 0.5, str(tmp_path), hard_per_source=1, held_out={"isic-dev/l1.jpg", "x/l2.jpg"}
    )
    assert held["lesions_test_split"] == {
        "isic-dev": {"n": 1, "refused": 0.0}
    }  # only that source's named ones
    assert result["not_lesion"]["all"] == {"n": 2, "refused": 1.0}
    clinical = result["clinical_skin"]
    assert clinical["B_held_out"]["n"] == n_b and clinical["all"]["refused"] == 0.0
    assert clinical["B_held_out_watermark_free_views"] == {"n": 7 * n_b, "refused": 0.0}
    assert clinical["B_held_out_centre_half"] == {"n": n_b, "refused": 0.0}
    assert result["hard"]["plain_skin"]["n"] == 4


def test_test_split_is_rebuilt_only_for_an_artifact_that_kept_one_of_these_sources(tmp_path):
    from evaluate_guard import LESION_SOURCES, test_split_ids

    for source in LESION_SOURCES:
        (tmp_path / source).mkdir()
    meta = {
        "dataset": {"name": "+".join(LESION_SOURCES)},
        "training": {"hyperparameters": {"test_fraction": 0.0}},
    }
    assert test_split_ids(meta, str(tmp_path)) is None  # no test split kept
    meta["training"]["hyperparameters"]["test_fraction"] = 0.15
    assert test_split_ids({**meta, "dataset": {"name": "isic-archive"}}, str(tmp_path)) is None  # other data
    assert test_split_ids(meta, str(tmp_path / "missing")) is None  # data not here
