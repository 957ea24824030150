"""`skinlesion batch s3://...` on SageMaker Batch Transform: S3 and CloudFormation in moto, the
SageMaker calls through botocore's Stubber (the job's exact parameters, its states, StopTransformJob)."""

from __future__ import annotations

import csv
import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

import lesion_contract as contract
from skinlesion import batch, batch_cloud, cost

IN_BUCKET, MODEL_BUCKET, MODEL = "clinic-archive", "artifacts", "skin-lesion-model-abc"
JOB = "skinlesion-batch-test"
THRESHOLD, VERSION = 0.3, "2026-12-01T00-00-00Z-test"
# Relative key -> what the model answers (p_benign, p_malignant); None: no output (a failed record)
IMAGES = {
    "benign/a.jpg": (0.9, 0.1),
    "benign/b.png": (0.6, 0.4),
    "malignant/c.jpg": (0.2, 0.8),
    "malignant/d.jpg": None,
}


class FakeSession:
    def __init__(self, clients: dict) -> None:
        self.clients = clients

    def client(self, name: str):
        return self.clients[name]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSession]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(batch_cloud.time, "sleep", lambda s: None)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        for bucket in (IN_BUCKET, MODEL_BUCKET):
            s3.create_bucket(Bucket=bucket)
        for rel in IMAGES:
            s3.put_object(Bucket=IN_BUCKET, Key=f"2025/{rel}", Body=b"\xff\xd8\xff" + rel.encode())
        s3.put_object(Bucket=IN_BUCKET, Key="2025/README.txt", Body=b"not an image")
        s3.put_object(Bucket=MODEL_BUCKET, Key="model/model.tar.gz", Body=_artifact())
        cfn = boto3.client("cloudformation", region_name="us-east-1")
        outputs = {
            "BatchModelName": MODEL,
            "BatchOutputUri": f"s3://{MODEL_BUCKET}/batch/output/",
            "EndpointName": "skin-lesion-classifier",
        }
        cfn.create_stack(
            StackName="SkinLesion",
            TemplateBody=json.dumps(
                {
                    "Resources": {"T": {"Type": "AWS::SNS::Topic"}},
                    "Outputs": {k: {"Value": v} for k, v in outputs.items()},
                }
            ),
        )
        sm = boto3.client("sagemaker", region_name="us-east-1")
        with Stubber(sm) as stub:
            yield FakeSession({"s3": s3, "cloudformation": cfn, "sagemaker": sm, "stub": stub})
            stub.assert_no_pending_responses()


def _artifact(guard: dict | None = None) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        document = {"threshold": THRESHOLD, "version": VERSION} | ({"guard": guard} if guard else {})
        metadata = json.dumps(document).encode()
        for name, data in (("model/1/saved_model.pb", b"graph"), ("metadata.json", metadata)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _write_outputs(s3, keys) -> None:
    """What the job writes: <output>/<job>/<relative key>.out with the endpoint's answer."""
    for rel in keys:
        body = json.dumps(list(IMAGES[rel])).encode()
        s3.put_object(Bucket=MODEL_BUCKET, Key=f"batch/output/{JOB}/{rel}.out", Body=body)


def _expect_model(stub: Stubber) -> None:
    stub.add_response(
        "describe_model",
        {
            "ModelName": MODEL,
            "ModelArn": "arn:aws:sagemaker:us-east-1:1:model/m",
            "CreationTime": "2026-12-01",
            "PrimaryContainer": {
                "Image": "tf-serving",
                "ModelDataUrl": f"s3://{MODEL_BUCKET}/model/model.tar.gz",
            },
        },
        {"ModelName": MODEL},
    )


EXPECTED_JOB = {
    "TransformJobName": JOB,
    "ModelName": MODEL,
    "MaxConcurrentTransforms": 4,
    "MaxPayloadInMB": 6,
    "BatchStrategy": "SingleRecord",
    "ModelClientConfig": {"InvocationsTimeoutInSeconds": 60, "InvocationsMaxRetries": 2},
    "TransformInput": {
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{IN_BUCKET}/2025/"}},
        "ContentType": "application/x-image",
        "CompressionType": "None",
        "SplitType": "None",
    },
    "TransformOutput": {
        "S3OutputPath": f"s3://{MODEL_BUCKET}/batch/output/{JOB}/",
        "Accept": "application/json",
        "AssembleWith": "None",
    },
    "TransformResources": {"InstanceType": "ml.c5.xlarge", "InstanceCount": 2},
    "Tags": [{"Key": "created-by", "Value": "skinlesion batch"}],
}


def _job(status: str, reason: str | None = None) -> dict:
    job = {
        "TransformJobName": JOB,
        "TransformJobArn": f"arn:aws:sagemaker:us-east-1:1:transform-job/{JOB}",
        "TransformJobStatus": status,
        "ModelName": MODEL,
        "CreationTime": "2026-12-01",
        "TransformInput": EXPECTED_JOB["TransformInput"],
        "TransformResources": EXPECTED_JOB["TransformResources"],
        "TransformOutput": EXPECTED_JOB["TransformOutput"],
        "MaxConcurrentTransforms": 4,
        "MaxPayloadInMB": 6,
    }
    return {**job, "FailureReason": reason} if reason else job


def _run(session: FakeSession, out: Path, *extra: str) -> int:
    args = batch.build_parser().parse_args(
        [
            f"s3://{IN_BUCKET}/2025",
            "--out",
            str(out),
            "--stack",
            "SkinLesion",
            "--job-name",
            JOB,
            "--instance-type",
            "ml.c5.xlarge",
            "--instance-count",
            "2",
            "--no-progress",
            *extra,
        ]
    )
    return batch_cloud.run_cloud(args, "csv", _err, session=session)


_err = io.StringIO()


@pytest.fixture(autouse=True)
def fresh_err() -> None:
    _err.seek(0)
    _err.truncate()


def test_job_runs_one_image_per_record_and_output_joins_into_rows(aws, tmp_path) -> None:
    stub, s3 = aws.clients["stub"], aws.clients["s3"]
    # GIVEN the job's expected parameters and its states (one record fails)
    _expect_model(stub)
    stub.add_response("create_transform_job", {"TransformJobArn": "arn:job"}, EXPECTED_JOB)
    stub.add_response("describe_transform_job", _job("InProgress"), {"TransformJobName": JOB})
    stub.add_response(
        "describe_transform_job", _job("Failed", "ClientError: 1 record failed"), {"TransformJobName": JOB}
    )
    _write_outputs(s3, [k for k, v in IMAGES.items() if v])
    # WHEN batch runs with --yes
    out = tmp_path / "r.csv"
    assert _run(aws, out, "--yes") == 1  # a file failed
    # THEN each image has one row, labelled by the artifact's threshold; the failed record is an error row
    with open(out, newline="") as handle:
        rows = {row["path"]: row for row in csv.DictReader(handle)}
    assert set(rows) == set(IMAGES)  # README.txt is not an image
    for rel, probs in IMAGES.items():
        row = rows[rel]
        if probs is None:
            assert (row["label"], row["error_code"]) == ("", "transform_failed")
            assert row["error_message"] == "ClientError: 1 record failed"
            continue
        assert (float(row["p_benign"]), float(row["p_malignant"])) == probs
        assert row["label"] == ("malignant" if probs[1] >= THRESHOLD else "benign")
        assert (float(row["threshold"]), row["model_version"], row["error_code"]) == (THRESHOLD, VERSION, "")
    # AND the summary checks the model on the labelled folders
    text = _err.getvalue()
    assert "4 files: 1 benign, 2 malignant, 0 refused (not a skin lesion), 1 error" in text
    assert (
        "Labelled folders (2 benign, 1 malignant scored): ROC AUC 1.000, sensitivity 1.000, "
        "specificity 0.500" in text
    )


def test_estimate_is_printed_and_nothing_starts_without_confirmation(aws, tmp_path, monkeypatch) -> None:
    stub = aws.clients["stub"]
    _expect_model(stub)  # no create_transform_job: the Stubber fails the test if one is sent
    assert _run(aws, tmp_path / "r.csv") == 2
    text = _err.getvalue()
    # 4 images x 0.05 s + 2 instances x 0.1 h of start-up, at prices.json's ml.c5.xlarge price
    price = cost.load_prices()["sagemaker"]["batch_transform_per_instance_hour"]["ml.c5.xlarge"]
    hours = 4 * 0.05 / 3600 + 2 * 0.1
    assert f"4 images (0.0 MB) under s3://{IN_BUCKET}/2025/" in text
    assert f"about {hours:.2f} instance hours, about ${hours * price:.2f}" in text
    assert "ml.c5.xlarge x2" in text and "estimates" in text
    assert "Pass --yes" in text and "Not started." in text
    assert not (tmp_path / "r.csv").exists()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("answer", "starts"), [("n\n", False), ("y\n", True)])
def test_a_terminal_is_asked_before_the_job_starts(aws, tmp_path, monkeypatch, answer, starts) -> None:
    stub, s3 = aws.clients["stub"], aws.clients["s3"]
    monkeypatch.setattr("sys.stdin", _Terminal(answer))
    _expect_model(stub)
    if starts:
        stub.add_response("create_transform_job", {"TransformJobArn": "arn:job"}, EXPECTED_JOB)
        stub.add_response("describe_transform_job", _job("Completed"), {"TransformJobName": JOB})
        _write_outputs(s3, [k for k, v in IMAGES.items() if v])
    code = _run(aws, tmp_path / "r.csv")
    assert "Start the job? [y/N]" in _err.getvalue()
    assert code == (1 if starts else 2)  # started: one file has no output


def test_ctrl_c_stops_the_job_and_keeps_what_it_wrote(aws, tmp_path, monkeypatch) -> None:
    stub, s3 = aws.clients["stub"], aws.clients["s3"]
    _expect_model(stub)
    stub.add_response("create_transform_job", {"TransformJobArn": "arn:job"}, EXPECTED_JOB)
    stub.add_response("describe_transform_job", _job("InProgress"), {"TransformJobName": JOB})
    stub.add_response("stop_transform_job", {}, {"TransformJobName": JOB})
    _write_outputs(s3, ["benign/a.jpg"])

    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(batch_cloud.time, "sleep", interrupt)  # Ctrl-C while waiting for the job
    out = tmp_path / "r.csv"
    assert _run(aws, out, "--yes") == 130
    assert "Stopping skinlesion-batch-test (StopTransformJob)" in _err.getvalue()
    with open(out, newline="") as handle:
        rows = {row["path"]: row for row in csv.DictReader(handle)}
    assert rows["benign/a.jpg"]["label"] == "benign"
    assert {rows[k]["error_message"] for k in IMAGES if k != "benign/a.jpg"} == {"stopped by Ctrl-C"}


def test_image_above_max_payload_is_refused_before_any_job(aws, tmp_path) -> None:
    aws.clients["s3"].put_object(Bucket=IN_BUCKET, Key="2025/big.jpg", Body=b"\xff" * (2 * 1024 * 1024 + 1))
    assert _run(aws, tmp_path / "r.csv", "--yes", "--max-payload", "2") == 2
    assert "above --max-payload 2 MB" in _err.getvalue()
    assert not (tmp_path / "r.csv").exists()


def test_without_a_batch_model_output_the_endpoints_model_is_used(aws, tmp_path) -> None:
    from skinlesion.batch_cloud_plan import endpoint_model

    stub = aws.clients["stub"]
    stub.add_response(
        "describe_endpoint",
        {
            "EndpointName": "e",
            "EndpointArn": "arn:aws:sagemaker:us-east-1:1:endpoint/e",
            "EndpointConfigName": "cfg",
            "EndpointStatus": "InService",
            "CreationTime": "2026-12-01",
            "LastModifiedTime": "2026-12-01",
        },
        {"EndpointName": "skin-lesion-classifier"},
    )
    stub.add_response(
        "describe_endpoint_config",
        {
            "EndpointConfigName": "cfg",
            "EndpointConfigArn": "arn:aws:sagemaker:us-east-1:1:endpoint-config/cfg",
            "CreationTime": "2026-12-01",
            "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": MODEL}],
        },
        {"EndpointConfigName": "cfg"},
    )
    assert endpoint_model(aws.clients["sagemaker"], "skin-lesion-classifier") == MODEL


def test_unknown_instance_type_names_the_priced_ones(aws, tmp_path) -> None:
    assert _run(aws, tmp_path / "r.csv", "--yes", "--instance-type", "ml.x9.huge") == 2
    assert "no Batch Transform price for ml.x9.huge in prices.json (known: ml.c5.2xlarge" in _err.getvalue()


def test_attach_joins_an_earlier_job_without_starting_one(aws, tmp_path) -> None:
    # GIVEN a job that finished after the command that started it was closed
    stub, s3 = aws.clients["stub"], aws.clients["s3"]
    _write_outputs(s3, [k for k, v in IMAGES.items() if v])
    stub.add_response("describe_transform_job", _job("Completed"), {"TransformJobName": JOB})
    _expect_model(stub)
    stub.add_response("describe_transform_job", _job("Completed"), {"TransformJobName": JOB})
    # WHEN batch attaches to it (no create_transform_job is stubbed: sending one fails the test)
    out = tmp_path / "r.csv"
    assert _run(aws, out, "--attach", JOB) == 1
    # THEN its output is joined into the table, and no estimate or prompt is shown
    with open(out, newline="") as handle:
        rows = {row["path"]: row for row in csv.DictReader(handle)}
    assert rows["malignant/c.jpg"]["label"] == "malignant" and rows["malignant/d.jpg"]["error_code"]
    assert "Start the job?" not in _err.getvalue() and "instance hours" not in _err.getvalue()


def test_output_records_become_rows_and_garbage_an_error_row() -> None:
    model = batch_cloud.ModelInfo(threshold=0.3, version="v", guard_threshold=0.5)
    row = batch_cloud.row_from_output("a.jpg", b"[0.7, 0.3]", model)
    assert (row.label, row.p_benign, row.p_malignant, row.lesion_score) == ("malignant", 0.7, 0.3, None)
    guarded = b'{"probabilities": [0.9, 0.1], "lesion_score": 0.8}'
    row = batch_cloud.row_from_output("b.jpg", guarded, model)
    assert (row.label, row.lesion_score, row.refused) == ("benign", 0.8, False)
    for garbage in (b"<html>", b"[0.5]", b'{"probabilities": [0.5, 0.5], "lesion_score": "high"}'):
        row = batch_cloud.row_from_output("c.jpg", garbage, model)
        assert (row.label, row.error_code) == ("", "bad_answer")


def test_with_a_guard_the_job_asks_for_the_lesion_score_and_low_scores_are_refusals(aws, tmp_path) -> None:
    # GIVEN a model whose metadata.json has a guard threshold of 0.5
    stub, s3 = aws.clients["stub"], aws.clients["s3"]
    s3.put_object(Bucket=MODEL_BUCKET, Key="model/model.tar.gz", Body=_artifact(guard={"threshold": 0.5}))
    _expect_model(stub)
    transform_output = {**EXPECTED_JOB["TransformOutput"], "Accept": contract.GUARD_ACCEPT}
    stub.add_response(
        "create_transform_job",
        {"TransformJobArn": "arn:job"},
        {**EXPECTED_JOB, "TransformOutput": transform_output},
    )
    stub.add_response("describe_transform_job", _job("Completed"), {"TransformJobName": JOB})
    for rel, score in (
        ("benign/a.jpg", 0.9),
        ("benign/b.png", 0.2),
        ("malignant/c.jpg", 0.7),
        ("malignant/d.jpg", 0.6),
    ):
        body = json.dumps({"probabilities": [0.4, 0.6], "lesion_score": score}).encode()
        s3.put_object(Bucket=MODEL_BUCKET, Key=f"batch/output/{JOB}/{rel}.out", Body=body)
    # WHEN the job runs and its output is joined
    out = tmp_path / "r.csv"
    assert _run(aws, out, "--yes") == 0  # a refusal is an answer, not an error
    # THEN the image below the guard's threshold is a refusal with its score and no label
    with open(out, newline="") as handle:
        rows = {row["path"]: row for row in csv.DictReader(handle)}
    refused = rows["benign/b.png"]
    assert (refused["refused"], refused["label"], refused["lesion_score"]) == ("true", "", "0.2")
    assert rows["benign/a.jpg"]["label"] == "malignant" and rows["benign/a.jpg"]["lesion_score"] == "0.9"
    assert "1 refused (not a skin lesion)" in _err.getvalue()


def test_ctrl_c_at_the_prompt_starts_and_stops_nothing(aws, tmp_path, monkeypatch) -> None:
    class Interrupted(_Terminal):
        def readline(self, *args) -> str:
            raise KeyboardInterrupt

    monkeypatch.setattr("sys.stdin", Interrupted())
    _expect_model(aws.clients["stub"])  # neither create nor stop is stubbed: sending either fails the test
    assert _run(aws, tmp_path / "r.csv") == 130
    assert _err.getvalue().endswith("Not started.\n")


def test_aws_refusing_the_job_is_one_line(aws, tmp_path) -> None:
    stub = aws.clients["stub"]
    _expect_model(stub)
    stub.add_client_error(
        "create_transform_job",
        service_error_code="AccessDeniedException",
        service_message="not authorized to perform: sagemaker:CreateTransformJob",
        expected_params=EXPECTED_JOB,
    )
    assert _run(aws, tmp_path / "r.csv", "--yes") == 2
    last = _err.getvalue().splitlines()[-1]
    assert last == (
        "skinlesion batch: AWS CreateTransformJob: AccessDeniedException: "
        "not authorized to perform: sagemaker:CreateTransformJob"
    )
