"""Training throughput: input pipeline alone, and full training steps, ours vs the seed's.

Seed: image_dataset_from_directory (decodes and resizes every JPEG every epoch) + its
flip/rotation map, feeding the mini-Xception at 180 px, batch 16.
Ours: decode + resize once into a uint8 cache, then shuffle/batch/augment in parallel
with prefetch, feeding MobileNetV2-0.35 at 224 px, batch 32. On a GPU our augmentation
runs inside the training step (`--augment-on auto`), so the pipeline only slices the
cache: that row is what bounds a GPU.

Also measured on 600x450 re-encodes of the same images (HAM10000's original size), since
isic-dev's 224 px JPEGs are unusually cheap to decode.
    .venv/bin/python bench/model_throughput.py [--images 480] [--steps 12]
"""

from __future__ import annotations

import argparse
import os
import time

from model_common import DATA, REPO, machine, require_shared, write_section


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def rate(ds, max_images: int) -> tuple[float, float]:
    """(images per wall second, CPU ms per image) over one pass of up to max_images."""
    n, wall, cpu = 0, time.perf_counter(), cpu_seconds()
    for x, _ in ds:
        n += int(x.shape[0])
        if n >= max_images:
            break
    wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    return n / wall, 1000 * cpu / n


def subset(root: str, out: str, n: int, size=None) -> str:
    """Copy (or re-encode at `size`) the first n/2 images of each class into out/."""
    from PIL import Image

    for label in ("benign", "malignant"):
        os.makedirs(os.path.join(out, label), exist_ok=True)
        for name in sorted(os.listdir(os.path.join(root, label)))[: n // 2]:
            dst = os.path.join(out, label, name)
            if not os.path.exists(dst):
                img = Image.open(os.path.join(root, label, name)).convert("RGB")
                (img.resize(size, Image.BILINEAR) if size else img).save(dst, quality=90)
    return out


def pipelines(root: str, n_images: int) -> dict:
    from lesion_model import data
    from lesion_model.augment import make_augmentation

    seed_aug, our_aug = make_augmentation("seed", 1), make_augmentation("dermoscopy", 1)
    out = {}
    seed_ds = data.seed_pipeline(root, 180, 16, seed_aug, seed=1)
    rate(seed_ds, 64)  # warm-up (tracing)
    out["seed: decode every epoch + flip/rotate (180 px, b16)"] = rate(seed_ds, n_images)
    start = time.perf_counter()
    cached, _ = data.load_cached(data.list_folder_dataset(root), 224)
    out["ours: one-time decode + resize into the cache"] = (n_images / (time.perf_counter() - start), None)
    for label, aug in (
        ("dermoscopy augmentation in tf.data (CPU)", our_aug),
        ("augmentation on device (GPU)", None),
    ):
        ds = data.training_pipeline(cached, 32, aug, seed=1)
        rate(ds, 64)
        out[f"ours: cached, {label} (224 px, b32)"] = rate(ds, n_images)
    return out


def training_steps(root: str, steps: int) -> dict:
    """Images/s of full training steps (pipeline + forward + backward + update)."""
    from lesion_model import data
    from lesion_model.architectures import make_model, set_backbone_trainable
    from lesion_model.augment import make_augmentation
    from lesion_model.training import compile_model

    results = {}
    seed_model = make_model("seed", 180)
    compile_model(seed_model, 1e-3)
    seed_ds = data.seed_pipeline(root, 180, 16, make_augmentation("seed", 1), seed=1).repeat()
    results["seed (mini-Xception 180 px, b16, its pipeline)"] = _fit_rate(seed_model, seed_ds, steps, 16)
    ours = make_model("mobilenet_v2", 224, weights="none")
    set_backbone_trainable(ours, 1.0)  # the fine-tuning phase: the expensive one
    compile_model(ours, 1e-4)
    cached, _ = data.load_cached(data.list_folder_dataset(root), 224)
    our_ds = data.training_pipeline(cached, 32, make_augmentation("dermoscopy", 1), seed=1).repeat()
    results["ours (MobileNetV2-0.35 224 px, b32, fine-tuning, cached pipeline)"] = _fit_rate(
        ours, our_ds, steps, 32
    )
    return results


def _fit_rate(model, ds, steps: int, batch: int) -> tuple[float, float]:
    model.fit(ds, steps_per_epoch=3, epochs=1, verbose=0)  # warm-up: tracing
    wall, cpu = time.perf_counter(), cpu_seconds()
    model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
    wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    return steps * batch / wall, 1000 * cpu / (steps * batch)


def table(rows: dict) -> str:
    lines = ["| what | images/s (wall) | CPU ms / image |", "| --- | ---: | ---: |"]
    for name, (ips, cpu_ms) in rows.items():
        lines.append(f"| {name} | {ips:,.0f} | {'' if cpu_ms is None else f'{cpu_ms:.2f}'} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--images", type=int, default=480)
    p.add_argument("--steps", type=int, default=12)
    args = p.parse_args()
    require_shared()
    work = os.path.join(REPO, ".work", "bench-data")
    small = subset(DATA, os.path.join(work, "isic-224"), args.images)
    large = subset(DATA, os.path.join(work, "isic-600x450"), args.images, size=(600, 450))
    header = machine()
    p224, p600 = pipelines(small, args.images), pipelines(large, args.images)
    steps = training_steps(small, args.steps)
    body = _report(header, args, p224, p600, steps)
    print(body)
    write_section("Model: training throughput (issue 3)", body)


def _report(header, args, p224, p600, steps) -> str:
    seed_key = next(iter(p224))
    gpu_key = [k for k in p224 if "on device" in k][0]
    cpu_key = [k for k in p224 if "tf.data" in k][0]
    step_keys = list(steps)
    ratio = steps[step_keys[1]][0] / steps[step_keys[0]][0]
    command = f".venv/bin/python bench/model_throughput.py --images {args.images} --steps {args.steps}"
    return f"""Command: `{command}`
Machine: {header}. Wall-clock rates swing with the other jobs on the 2 cores; CPU ms per image is steadier.

Input pipeline alone, {args.images} isic-dev images as shipped (224 px JPEGs, cheap to decode):

{table(p224)}

Same {args.images} images re-encoded at 600x450 (HAM10000's original size):

{table(p600)}

Pipeline ratio ours / seed: {p224[gpu_key][0] / p224[seed_key][0]:.0f}x (224 px) and \
{p600[gpu_key][0] / p600[seed_key][0]:.0f}x (600x450) with augmentation on the device, as on a GPU;
{p224[cpu_key][0] / p224[seed_key][0]:.1f}x / {p600[cpu_key][0] / p600[seed_key][0]:.1f}x with our \
(heavier) augmentation kept in tf.data as on this CPU.

Full training steps ({args.steps} steps after warm-up, same CPU):

{table(steps)}

Training-step ratio ours / seed: {ratio:.1f}x images/s ({cpu_ratio(steps, *step_keys):.1f}x by CPU ms per \
image); input pipeline by CPU ms per image: {cpu_ratio(p224, seed_key, gpu_key):.0f}x (224 px), \
{cpu_ratio(p600, seed_key, gpu_key):.0f}x (600x450).
"""


def cpu_ratio(rows: dict, seed_key: str, our_key: str) -> float:
    return rows[seed_key][1] / rows[our_key][1]


if __name__ == "__main__":
    main()
