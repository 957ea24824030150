"""`skinlesion predict` end to end against the running local stack (real sign-in, gateway, Lambda, model)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from skinlesion import cli
from skinlesion.client import CognitoClient
from skinlesion.tokens import CachedTokens, TokenCache, cache_key

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
SHIPPED_SAMPLES = sorted((REPO / "tests" / "data").glob("*.jpg"))[:3]


@pytest.fixture
def images(tmp_path: Path) -> list[Path]:
    """Real lesion photos shipped in tests/data when present, plus a generated PNG and WebP."""
    made = []
    for fmt, colour in (("PNG", (190, 120, 100)), ("WEBP", (110, 70, 50))):
        path = tmp_path / f"generated.{fmt.lower()}"
        # A lesion photo re-encoded when one is shipped (the model's guard refuses flat colours).
        image = Image.open(SHIPPED_SAMPLES[0]) if SHIPPED_SAMPLES else Image.new("RGB", (320, 240), colour)
        image.convert("RGB").resize((320, 240)).save(path, format=fmt)
        made.append(path)
    if not SHIPPED_SAMPLES:
        path = tmp_path / "generated.jpg"
        Image.new("RGB", (300, 300), (160, 100, 80)).save(path, format="JPEG")
        made.append(path)
    return [*SHIPPED_SAMPLES, *made]


@pytest.fixture
def bad_files(tmp_path: Path) -> list[Path]:
    text = tmp_path / "notes.jpg"
    text.write_text("clinic notes, not an image\n")
    return [text, tmp_path / "missing.jpg"]


def _rows(out: str) -> dict[str, str]:
    lines = out.splitlines()
    assert lines[0].split() == ["FILE", "LABEL", "MALIGNANT", "BENIGN"]
    return {line.split()[0]: line for line in lines[1:]}


def test_table_classifies_images_and_reports_bad_files(
    images, bad_files, stack_file, local_stack, capsys
) -> None:
    files = [str(p) for p in images + bad_files]
    code = cli.main(["predict", *files, "--stack-file", str(stack_file), "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 1  # some files failed
    rows = _rows(out)
    assert list(rows) == files  # input order
    for image in images:
        name, label, malignant, _, benign, _ = rows[str(image)].split()
        assert label in ("benign", "malignant")
        assert float(malignant) + float(benign) == pytest.approx(100.0, abs=0.11)
    assert "ERROR      HTTP 400: " in rows[str(bad_files[0])]
    assert rows[str(bad_files[1])].split(None, 2)[1:] == ["ERROR", "no such file"]
    assert f"{len(images)} of {len(files)} classified, 2 failed" in err
    assert f"Model {local_stack['modelVersion']}: malignant when" in err
    assert "Traceback" not in err


def test_json_lines_carry_the_api_answer_or_the_error(
    images, bad_files, stack_file, local_stack, capsys
) -> None:
    files = [str(p) for p in images + bad_files]
    code = cli.main(["predict", *files, "--stack-file", str(stack_file), "--json"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 1
    assert [line["file"] for line in lines] == files
    for ok in lines[: len(images)]:
        assert ok["ok"] is True and ok["label"] in ("benign", "malignant")
        assert sum(ok["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
        assert ok["label"] == (
            "malignant" if ok["probabilities"]["malignant"] >= ok["threshold"] else "benign"
        )
        assert ok["model"]["version"] == local_stack["modelVersion"] and ok["requestId"]
    text, missing = lines[-2:]
    assert (text["ok"], text["status"], text["error"]["code"]) == (False, 400, "bad_request")
    assert text["requestId"]
    assert (missing["ok"], missing["status"], missing["error"]) == (
        False,
        None,
        {"code": "file_error", "message": "no such file"},
    )


def test_console_script_exits_zero_when_every_file_is_classified(images, stack_file, token_cache_dir) -> None:
    script = Path(sys.executable).with_name("skinlesion")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "skinlesion.cli"]
    env = {**os.environ, "SKINLESION_CACHE_DIR": str(token_cache_dir)}
    done = subprocess.run(
        [*command, "predict", *map(str, images), "--stack-file", str(stack_file)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert len(_rows(done.stdout)) == len(images)
    assert done.stderr.endswith("Research use only: not a diagnosis.\n")


def test_image_too_large_for_the_api_is_downscaled_and_classified(tmp_path, stack_file, capsys) -> None:
    path = tmp_path / "camera.png"
    noise = np.frombuffer(os.urandom(2000 * 1600 * 3), np.uint8).reshape(1600, 2000, 3)
    if (
        SHIPPED_SAMPLES
    ):  # a lesion photo under enough noise to keep the PNG big (the guard refuses pure noise)
        lesion = np.asarray(Image.open(SHIPPED_SAMPLES[0]).convert("RGB").resize((2000, 1600)), np.int16)
        noise = np.clip(lesion + (noise.astype(np.int16) % 65) - 32, 0, 255).astype(np.uint8)
    Image.fromarray(noise).save(path, format="PNG")
    assert path.stat().st_size > 4_400_000
    assert cli.main(["predict", str(path), "--stack-file", str(stack_file), "--json"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["ok"] and line["downscaled"] is True


def test_revoked_cached_token_is_replaced_by_a_fresh_sign_in(images, stack_file, local_stack, capsys) -> None:
    key = cache_key(local_stack["cognitoEndpoint"], local_stack["userPoolClientId"], local_stack["username"])
    TokenCache().put(key, CachedTokens(id_token="revoked.token.value", expires_at=time.time() + 3600))
    assert cli.main(["predict", str(images[0]), "--stack-file", str(stack_file)]) == 0
    assert TokenCache().get(key).id_token != "revoked.token.value"


def test_wrong_password_is_one_line(images, stack_file, local_stack, capsys) -> None:
    code = cli.main(
        [
            "predict",
            str(images[0]),
            "--stack-file",
            str(stack_file),
            "--no-cache",
            "--username",
            local_stack["username"],
            "--password",
            "not-the-password",
        ]
    )
    out, err = capsys.readouterr()
    assert (code, out) == (3, "")
    assert err == "skinlesion: sign-in failed: incorrect username or password\n"


def test_token_flag_is_used_as_is(images, stack_file, local_stack, capsys) -> None:
    token = (
        CognitoClient(local_stack["cognitoEndpoint"], local_stack["userPoolClientId"])
        .sign_in(local_stack["username"], local_stack["password"])
        .id_token
    )
    assert cli.main(["predict", str(images[0]), "--api", local_stack["apiUrl"], "--token", token]) == 0
    capsys.readouterr()
    # A bad token is the gateway's 401, reported per file; nothing is retried or cached.
    assert (
        cli.main(["predict", str(images[0]), "--api", local_stack["apiUrl"], "--token", "bad", "--json"]) == 1
    )
    line = json.loads(capsys.readouterr().out)
    assert (line["status"], line["error"]["code"]) == (401, "unauthorized")
    assert not TokenCache().path.exists()


def test_stack_option_reads_cloudformation_outputs(images, local_stack, moto_cognito, monkeypatch, capsys):
    # GIVEN a deployed stack's outputs (moto CloudFormation) that point at the local API
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDFORMATION", moto_cognito.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    outputs = {"ApiUrl": local_stack["apiUrl"], "UserPoolClientId": local_stack["userPoolClientId"],
               "UserPoolId": local_stack["userPoolId"], "Region": "us-east-1"}  # fmt: skip
    boto3.client("cloudformation", region_name="us-east-1").create_stack(
        StackName="CliStackOption",
        TemplateBody=json.dumps({"Resources": {"T": {"Type": "AWS::SNS::Topic"}},
                                 "Outputs": {k: {"Value": v} for k, v in outputs.items()}}),
    )  # fmt: skip
    # WHEN predict finds the API through --stack (Cognito redirected to the local one)
    sign_in = ["--username", local_stack["username"], "--password", local_stack["password"]]
    code = cli.main(["predict", str(images[0]), "--stack", "CliStackOption", "--region", "us-east-1",
                     "--cognito-endpoint", local_stack["cognitoEndpoint"], "--json", *sign_in])  # fmt: skip
    # THEN the image is classified by that API
    assert code == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
