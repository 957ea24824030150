"""`skinlesion batch FOLDER` against the running local stack: real sign-in, gateway, Lambda and model."""

from __future__ import annotations

import _thread
import csv
import dataclasses
import shutil
from pathlib import Path

import pytest
from PIL import Image

from skinlesion import batch
from skinlesion.batch_output import COLUMNS, read_rows
from skinlesion.client import PredictApi
from skinlesion.images import read_image

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
SAMPLES = sorted((REPO / "tests" / "data").glob("*.jpg"))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """The shipped lesion JPEGs in benign/ and malignant/ (as their README labels them), a PNG, a bad file."""
    root = tmp_path / "archive"
    for sample in SAMPLES:
        label = "benign" if "nevus" in sample.name else "malignant"
        (root / label).mkdir(parents=True, exist_ok=True)
        shutil.copy(sample, root / label / sample.name)
    (root / "extra").mkdir()
    # A lesion photo re-encoded as PNG (the model's guard refuses a flat colour).
    plain = Image.open(SAMPLES[0]) if SAMPLES else Image.new("RGB", (256, 256), (180, 110, 90))
    plain.convert("RGB").resize((256, 256)).save(root / "extra" / "plain.png")
    (root / "extra" / "notes.jpg").write_text("clinic notes, not an image\n")
    return root


def _run(folder: Path, out: Path, stack_file: Path, *extra: str) -> int:
    return batch.main(
        [str(folder), "--out", str(out), "--stack-file", str(stack_file), "--no-progress", *extra]
    )


def _same_rows(a: dict, b: dict) -> bool:
    """Rows equal, probabilities up to the API's 6th decimal: each run sends the files again, and
    the model server may batch them differently (last-bit differences in a batched convolution)."""
    if set(a) != set(b):
        return False
    for path, row in a.items():
        other = b[path]
        for name in ("p_benign", "p_malignant", "lesion_score"):
            x, y = getattr(row, name), getattr(other, name)
            if (x is None) != (y is None) or (x is not None and abs(x - y) > 2e-6):
                return False
        fixed = {"p_benign": None, "p_malignant": None, "lesion_score": None}
        if dataclasses.replace(row, **fixed) != dataclasses.replace(other, **fixed):
            return False
    return True


def _csv(out: Path) -> list[dict[str, str]]:
    with open(out, newline="") as handle:
        return list(csv.DictReader(handle))


def test_rows_match_predict_for_the_same_files(folder, tmp_path, stack_file, local_stack, id_token, capsys):
    # GIVEN a folder of real lesion images, WHEN batch scores it with 4 workers
    out = tmp_path / "results.csv"
    code = _run(folder, out, stack_file, "--workers", "4")
    err = capsys.readouterr().err
    # THEN every image file has exactly one row with the columns of the contract
    rows = {row["path"]: row for row in _csv(out)}
    assert tuple(_csv(out)[0]) == COLUMNS
    expected = {f.relative_to(folder).as_posix() for f in folder.rglob("*.*")}
    assert set(rows) == expected and len(_csv(out)) == len(expected)
    # AND each scored row carries exactly what POST /predict answers for the same bytes
    api = PredictApi(local_stack["apiUrl"])
    for rel in sorted(expected - {"extra/notes.jpg"}):
        image = read_image(folder / rel)
        answer = api.predict(image.data, image.content_type, id_token).body
        row = rows[rel]
        assert row["label"] == answer["label"]
        # Equal up to the 6th decimal the API rounds to: the model server may batch concurrent
        # requests, and a batched convolution can differ from a single one in the last float bits.
        assert float(row["p_benign"]) == pytest.approx(answer["probabilities"]["benign"], abs=2e-6)
        assert float(row["p_malignant"]) == pytest.approx(answer["probabilities"]["malignant"], abs=2e-6)
        assert float(row["threshold"]) == answer["threshold"]
        assert row["model_version"] == answer["model"]["version"] == local_stack["modelVersion"]
        assert (row["refused"], row["error_code"]) == ("false", "")
    # AND the bad file is a row with the API's error code, not a crash
    assert rows["extra/notes.jpg"]["error_code"] == "bad_request"
    assert rows["extra/notes.jpg"]["label"] == "" and rows["extra/notes.jpg"]["error_message"]
    assert code == 1  # some file failed
    assert "1 error\n" in err and "Errors: bad_request 1" in err and "Traceback" not in err


def test_interrupted_run_resumes_without_duplicates(
    folder, tmp_path, stack_file, monkeypatch, capsys, ctrl_c_handled
):
    # GIVEN a run that gets Ctrl-C (KeyboardInterrupt in the main thread) after its second row
    out = tmp_path / "results.csv"
    original = batch.ResultsFile.write
    written: list[str] = []

    def write_then_interrupt(self, row):
        original(self, row)
        written.append(row.path)
        if len(written) == 2:
            _thread.interrupt_main()  # what Ctrl-C does

    monkeypatch.setattr(batch.ResultsFile, "write", write_then_interrupt)
    assert _run(folder, out, stack_file, "--workers", "1") == 130
    assert "Stopped. Run the same command again to continue" in capsys.readouterr().err
    first = [row["path"] for row in _csv(out)]
    assert first == written and 2 <= len(first) < len(list(folder.rglob("*.*")))  # finished = on disk
    # WHEN the same command runs again
    monkeypatch.setattr(batch.ResultsFile, "write", original)
    assert _run(folder, out, stack_file) == 1
    err = capsys.readouterr().err
    # THEN it scores only the rest, and every file has exactly one row
    paths = [row["path"] for row in _csv(out)]
    assert len(paths) == len(set(paths)) == len(list(folder.rglob("*.*")))
    assert paths[: len(first)] == first
    assert f"{len(first)} already in the output, skipped" in err


def test_a_row_cut_off_by_a_hard_kill_is_scored_again(folder, tmp_path, stack_file, capsys):
    out = tmp_path / "results.csv"
    assert _run(folder, out, stack_file) == 1
    complete = out.read_bytes()
    out.write_bytes(complete[: complete.rfind(b"\n", 0, len(complete) - 1) + 12])  # half of the last row
    assert _run(folder, out, stack_file) == 1
    assert "already in the output" in capsys.readouterr().err
    assert sorted(r.path for r in read_rows(out)) == sorted(
        r["path"] for r in csv.DictReader(complete.decode().splitlines())
    )


def test_parquet_output_has_the_same_rows(folder, tmp_path, stack_file):
    pytest.importorskip("pyarrow", reason="--format parquet needs the optional pyarrow (skinlesion[parquet])")
    out_csv, out_parquet = tmp_path / "r.csv", tmp_path / "r.parquet"
    _run(folder, out_csv, stack_file)
    _run(folder, out_parquet, stack_file)  # the suffix chooses the format
    by_path = {r.path: r for r in read_rows(out_csv)}
    parquet_rows = read_rows(out_parquet)
    assert _same_rows({r.path: r for r in parquet_rows}, by_path) and len(parquet_rows) == len(by_path)
    assert not (tmp_path / "r.parquet.partial.csv").exists()
    # --format wins over the suffix
    assert _run(folder, tmp_path / "r.table", stack_file, "--format", "parquet") == 1
    assert _same_rows({r.path: r for r in read_rows(tmp_path / "r.table", "parquet")}, by_path)


def test_wrong_password_is_one_line_and_writes_nothing(folder, tmp_path, stack_file, local_stack, capsys):
    out = tmp_path / "results.csv"
    code = _run(
        folder,
        out,
        stack_file,
        "--no-cache",
        "--username",
        local_stack["username"],
        "--password",
        "not-the-password",
    )
    assert code == 3 and not out.exists()
    assert capsys.readouterr().err == "skinlesion batch: sign-in failed: incorrect username or password\n"


def test_stack_option_finds_the_api_in_cloudformation_outputs(
    folder, tmp_path, local_stack, moto_cognito, monkeypatch, capsys
):
    # GIVEN a deployed stack's outputs (moto CloudFormation) that point at the local API
    import json

    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDFORMATION", moto_cognito.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    outputs = {
        "ApiUrl": local_stack["apiUrl"],
        "UserPoolClientId": local_stack["userPoolClientId"],
        "UserPoolId": local_stack["userPoolId"],
        "Region": "us-east-1",
    }
    boto3.client("cloudformation", region_name="us-east-1").create_stack(
        StackName="BatchStackOption",
        TemplateBody=json.dumps(
            {
                "Resources": {"T": {"Type": "AWS::SNS::Topic"}},
                "Outputs": {k: {"Value": v} for k, v in outputs.items()},
            }
        ),
    )
    # WHEN batch finds the API through --stack (Cognito redirected to the local one)
    out = tmp_path / "r.csv"
    code = batch.main(
        [
            str(folder),
            "--out",
            str(out),
            "--stack",
            "BatchStackOption",
            "--region",
            "us-east-1",
            "--cognito-endpoint",
            local_stack["cognitoEndpoint"],
            "--no-progress",
            "--username",
            local_stack["username"],
            "--password",
            local_stack["password"],
        ]
    )
    # THEN the folder is scored by that API
    assert code == 1  # the bad file
    assert sum(r.scored for r in read_rows(out)) == len(list(folder.rglob("*.*"))) - 1


def test_console_script_runs_batch(folder, tmp_path, stack_file, token_cache_dir) -> None:
    import os
    import subprocess
    import sys

    script = Path(sys.executable).with_name("skinlesion")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "skinlesion.cli"]
    out = tmp_path / "r.csv"
    env = {**os.environ, "SKINLESION_CACHE_DIR": str(token_cache_dir)}
    done = subprocess.run(
        [*command, "batch", str(folder), "--out", str(out), "--stack-file", str(stack_file)],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
    )
    assert done.returncode == 1, done.stderr  # the bad file
    assert done.stderr.endswith("Research use only: not a diagnosis.\n")
    assert len(read_rows(out)) == len(list(folder.rglob("*.*")))


def test_a_bad_flag_shows_batch_usage(capsys) -> None:
    from skinlesion import cli

    with pytest.raises(SystemExit) as exited:
        cli.main(["batch", "photos", "--no-such-flag"])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and err.startswith("usage: skinlesion batch ")
