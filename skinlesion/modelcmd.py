"""`skinlesion train` / `skinlesion evaluate`: the model scripts, run with this interpreter.

`train --default` reproduces the shipped model (models/default/): the exact recipe of
the Makefile's `train-default-model` (tests/cli checks the two agree), on the shared
ISIC development set beside the repository. Any further arguments are appended, so
they win (`skinlesion train --default --epochs 2 --package /tmp/m.tar.gz`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
MODEL_SRC = REPO_ROOT / "model_src"
SHARED = REPO_ROOT.parent / "shared"
EXIT_USAGE = 2

# The Makefile's DEFAULT_MODEL_FLAGS, with $(SHARED) as {shared}.
DEFAULT_MODEL_FLAGS = (
    "--arch mobilenet_v2 "
    "--weights {shared}/weights/mobilenet_v2_0.35_224_no_top_imagenet_via_teachable_machine.h5 "
    "--image-size 192 --epochs 10 --head-epochs 2 --fine-tune-lr-scale 0.3 --patience 4 "
    "--freeze-through block_16_expand_relu "
    "--test-fraction 0.15 --val-fraction 0.2 --seed 1337 --target-sensitivity 0.90"
)
# Inputs and outputs of `make train-default-model`, relative to the repository root.
DEFAULT_IO_FLAGS = (
    "--train {shared}/data/isic-dev,{shared}/data/isic-2017 --model-dir .work/default-model "
    "--loso-table models/default/loso.json "
    "--package models/default/model.tar.gz --metrics-out models/default/metrics.json"
)


def default_train_args(shared: Path | None = None) -> list[str]:
    """The full argument list of the shipped model's training run."""
    return f"{DEFAULT_IO_FLAGS} {DEFAULT_MODEL_FLAGS}".format(shared=shared or SHARED).split()


def train(args: list[str]) -> int:
    if "--default" in args:
        data = SHARED / "data" / "isic-dev"
        if not data.is_dir():
            print(f"skinlesion train --default: the shipped model was trained on {data}, which is not here; "
                  "run `skinlesion train --train DIR ...` on your own benign/ and malignant/ folders",
                  file=sys.stderr)  # fmt: skip
            return EXIT_USAGE
        args = default_train_args() + [a for a in args if a != "--default"]
    return run_script("train.py", args)


def evaluate(args: list[str]) -> int:
    return run_script("evaluate.py", args)


def run_script(script: str, args: list[str]) -> int:
    """Run a model_src script with this interpreter, so it sees the same installed TensorFlow."""
    path = MODEL_SRC / script
    if not path.is_file():
        print(f"skinlesion: {path} not found; training and evaluation need a checkout of the repository",
              file=sys.stderr)  # fmt: skip
        return EXIT_USAGE
    env = {"TF_CPP_MIN_LOG_LEVEL": "2", **os.environ}
    # From the repository root, as the Makefile runs it: the recipe's relative paths mean the same.
    return subprocess.call([sys.executable, str(path), *args], env=env, cwd=REPO_ROOT)
