"""The corpus through the Lambda's *bundled* dependencies, on the Lambda's Python (3.12).

The stack ships Lambda-platform wheels (Pillow 13 with some codecs pruned, stacks/bundling.py),
not this venv's. GIVEN that bundle (as cached under build/lambda-deps by synth or
bench/lambda_package.py) and a local Python 3.12, WHEN every corpus case the handler sees goes
through its body parsing and image validation there, THEN each gets the same status as in the
venv: a pruned codec or a platform wheel that decodes differently would show up here, before
a deploy. Skipped (with the reason) when no bundle is cached or no Python 3.12 is installed.
"""

from __future__ import annotations

import base64
import glob
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from skinlesion.local.events import is_binary

from . import corpus

REPO = Path(__file__).resolve().parents[2]
SCRIPT = """
import base64, json, sys
from predict_api import payload, images
from predict_api.errors import ApiError
from PIL import features
out = {"_webp": features.check("webp")}
for name, ctype, body, is_b64 in json.load(sys.stdin):
    try:
        raw = payload.image_bytes(content_type=ctype, body=body, is_base64_encoded=is_b64)
        images.prepare_image(raw)
        out[name] = 200
    except ApiError as exc:
        out[name] = exc.status
    except Exception as exc:
        out[name] = f"{type(exc).__name__}: {exc}"
print(json.dumps(out))
"""


def bundle_dir() -> Path | None:
    """The cached dependency bundle for the current requirements (same key as stacks/bundling.py)."""
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    from stacks import bundling

    path = bundling.dependency_dir(
        bundling.checked_lock(REPO / "lambda_src" / "predict_api" / "requirements.txt")
    )
    return path if path.is_dir() else None


def python312() -> str | None:
    found = shutil.which("python3.12")
    candidates = [found] if found else []
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.12*/bin/python3.12")))
    for candidate in candidates:
        probe = subprocess.run([candidate, "-S", "-c", "import sys; print(sys.version_info[:2])"],
                               capture_output=True, text=True)  # fmt: skip
        if probe.returncode == 0 and probe.stdout.strip() == "(3, 12)":
            return candidate
    return None


def handler_cases() -> list[list]:
    """[name, content type, event body, isBase64Encoded] for every case the handler itself answers."""
    rows = []
    for name in corpus.NAMES:
        case = corpus.build(name)
        if case.kind not in (corpus.PREDICTION, corpus.API_ERROR) or case.status == 413:
            continue  # API Gateway's own 413s, and the 413 that needs a 4.5 MB event
        ctype = {k.lower(): v for k, v in case.headers.items()}.get("content-type")
        binary = is_binary(ctype)  # base64-encoded in the event, as API Gateway does for these types
        body = base64.b64encode(case.body).decode() if binary else case.body.decode("utf-8", "replace")
        rows.append([name, ctype, body, binary])
    return rows


def test_bundled_dependencies_answer_the_corpus_as_the_venv_does() -> None:
    bundle, python = bundle_dir(), python312()
    if bundle is None:
        pytest.skip(
            "no Lambda bundle cached for the current requirements (make synth or tests/cdk build one)"
        )
    if python is None:
        pytest.skip("no Python 3.12 (the Lambda runtime's version) installed here")
    # The bundle's wheels, the handler package and the contract package the stack ships beside it.
    code = [str(bundle), str(REPO / "lambda_src"), str(REPO)]
    env = {"PYTHONPATH": os.pathsep.join(code), "PATH": os.environ["PATH"]}
    rows = handler_cases()
    run = subprocess.run([python, "-S", "-c", SCRIPT], input=json.dumps(rows), env=env,
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    got = json.loads(run.stdout)
    assert got.pop("_webp") is True, "the bundled Pillow lost WebP support"
    wrong = {n: (corpus.build(n).status, got[n]) for n, *_ in rows if got[n] != corpus.build(n).status}
    assert not wrong, f"(expected, bundled) per case: {wrong}"
