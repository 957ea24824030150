"""The training pipeline as `cdk synth` writes it: the job, the waits, the ordering, the IAM scope.

The real app (`app.build`) with cdk.json's context and bundling skipped; the
`-c model=train` synthesis also runs cdk-nag (AwsSolutions and HIPAA Security), and
no finding on the pipeline's constructs may be left unacknowledged.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import cdk_harness as harness
import pytest

REPO = Path(__file__).resolve().parents[2]
WAIT = "AWS::CloudFormation::WaitCondition"
STAR_ACTIONS = (
    ["ecr:GetAuthorizationToken"],
    ["cloudwatch:PutMetricData"],
    ["servicequotas:ListAWSDefaultServiceQuotas", "servicequotas:ListServiceQuotas"],  # CDK sorts them
)


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    """`synth(**context)` -> the stack's template (tests/cdk_harness.py)."""

    def run(**context: Any) -> dict[str, Any]:
        return harness.synth(tmp_path_factory.mktemp("out"), **context).template

    return run


@pytest.fixture(scope="module")
def trained_synth(tmp_path_factory) -> harness.Synth:
    return harness.synth(tmp_path_factory.mktemp("trained"), model="train", nag="hipaa")


@pytest.fixture(scope="module")
def trained(trained_synth: harness.Synth) -> dict[str, Any]:
    return trained_synth.template


@pytest.mark.parametrize("plugin", ["AwsSolutions", "HIPAA.Security"])
def test_cdk_nag_leaves_no_unacknowledged_finding_on_the_pipeline(trained_synth, plugin):
    findings = [
        (rule, path)
        for rule, path in trained_synth.violations(plugin)
        if path.startswith("SkinLesion/Training/")
    ]
    assert findings == []


def test_cfn_lint_passes_the_training_template(trained_synth):
    # W3005: DependsOn that CDK adds next to a GetAtt (the ordering is wanted, the lint is noise).
    lint = subprocess.run(
        [
            str(Path(sys.executable).parent / "cfn-lint"),
            "-t",
            str(trained_synth.template_file),
            "--ignore-checks",
            "W3005",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr


def _of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def _one(template: dict[str, Any], kind: str) -> tuple[str, dict[str, Any]]:
    [(lid, res)] = _of_type(template, kind).items()
    return lid, res


def _depends(resource: dict[str, Any]) -> list[str]:
    return resource.get("DependsOn", [])


def test_the_training_job_defaults_to_ml_p3_2xlarge_on_the_tf_2_21_training_image(trained):
    _, job = _one(trained, "Custom::TrainingJob")
    props = job["Properties"]
    assert props["InstanceType"] == "ml.p3.2xlarge"
    assert (props["InstanceCount"], props["UseSpot"], props["MaxRuntimeSeconds"]) == ("1", "false", "14400")
    assert props["TrainingImage"].endswith(".amazonaws.com/tensorflow-training:2.21-gpu-py312")
    assert props["EntryPoint"] == "train.py" and props["MinAuc"] == "0.8"
    assert props["HyperParameters"]["arch"] == "mobilenet_v2" and props["HyperParameters"]["epochs"] == "10"
    # train.py stops itself 20 min before SageMaker's hard stop, leaving time to export the model
    assert props["HyperParameters"]["max-minutes"] == "220"


def test_the_deploy_waits_for_training_longer_than_a_custom_resource_could(trained):
    _, job = _one(trained, "Custom::TrainingJob")
    handle_id = job["Properties"]["WaitHandleUrl"]["Ref"]
    [wait] = [r for r in _of_type(trained, WAIT).values() if r["Properties"]["Handle"] == {"Ref": handle_id}]
    assert 3600 < int(wait["Properties"]["Timeout"]) <= 43200
    assert int(wait["Properties"]["Timeout"]) == 14400 + 3600  # runtime + start/upload margin
    assert wait["Properties"]["Count"] == 1


def test_the_model_and_the_api_wait_for_a_job_that_passed_the_gate(trained):
    job_id, _ = _one(trained, "Custom::TrainingJob")
    [wait_id] = [k for k, r in _of_type(trained, WAIT).items() if job_id in _depends(r)]
    models = _of_type(trained, "AWS::SageMaker::Model")  # the endpoint's and Batch Transform's
    assert len(models) == 2
    for model in models.values():  # CreateModel checks that the artifact exists: after the gate
        assert wait_id in _depends(model)
        url = model["Properties"]["PrimaryContainer"]["ModelDataUrl"]["Fn::Join"][1]
        assert {"Fn::GetAtt": [job_id, "ModelDataKey"]} in url
    [api] = [r for k, r in _of_type(trained, "AWS::Lambda::Function").items() if k.startswith("ApiFunction")]
    assert wait_id in _depends(api)


def test_training_starts_only_after_the_isic_import_finished(trained):
    _, job = _one(trained, "Custom::TrainingJob")
    import_id, imp = _one(trained, "Custom::DatasetImport")
    [import_wait] = [k for k, r in _of_type(trained, WAIT).items() if import_id in _depends(r)]
    assert import_wait in _depends(job)
    prefix = imp["Properties"]["DatasetPrefix"]
    assert job["Properties"]["TrainUri"]["Fn::Join"][1][-1] == f"/{prefix}"
    assert imp["Properties"]["Image"].endswith("tensorflow-training:2.21-cpu-py312")


def test_job_end_events_of_this_stacks_jobs_reach_the_handler(trained):
    rules = _of_type(trained, "AWS::Events::Rule")
    # the pipeline's rules (their target is the JobEvents Lambda; monitoring has its own to SNS)
    to_handler = [
        r
        for r in rules.values()
        if any(
            t["Arn"].get("Fn::GetAtt", [""])[0].startswith("TrainingHandlersJobEvents")
            for t in r["Properties"]["Targets"]
        )
    ]
    patterns = {
        r["Properties"]["EventPattern"]["detail-type"][0]: r["Properties"]["EventPattern"] for r in to_handler
    }
    assert len(to_handler) == len(patterns) == 2
    training = patterns["SageMaker Training Job State Change"]["detail"]
    assert training["TrainingJobStatus"] == ["Completed", "Failed", "Stopped"]
    _, job = _one(trained, "Custom::TrainingJob")
    assert training["TrainingJobName"] == [{"prefix": job["Properties"]["JobNamePrefix"] + "-"}]
    assert "SageMaker Processing Job State Change" in patterns


def test_the_stack_outputs_the_training_job_name(trained):
    job_id, _ = _one(trained, "Custom::TrainingJob")
    assert trained["Outputs"]["TrainingJobName"]["Value"] == {"Fn::GetAtt": [job_id, "JobName"]}


def _pipeline_statements(template: dict[str, Any]):
    for lid, res in _of_type(template, "AWS::IAM::Policy").items():
        if lid.startswith("Training"):
            for statement in res["Properties"]["PolicyDocument"]["Statement"]:
                yield lid, statement


def _render(expr: Any) -> str:
    if isinstance(expr, str):
        return expr
    if "Fn::Join" in expr:
        return expr["Fn::Join"][0].join(_render(p) for p in expr["Fn::Join"][1])
    if "Fn::GetAtt" in expr:
        return "<" + ".".join(expr["Fn::GetAtt"]) + ">"
    if "Ref" in expr:
        return "<" + expr["Ref"] + ">"
    if "Fn::Sub" in expr:
        return expr["Fn::Sub"]
    return json.dumps(expr)


def test_every_pipeline_iam_statement_is_scoped_to_its_prefixes(trained):
    imp = _one(trained, "Custom::DatasetImport")[1]["Properties"]
    bucket = "<StorageArtifacts"
    allowed_s3 = ("/training/", "/pipeline/", f"/{imp['DatasetPrefix']}")
    checked = 0
    for lid, statement in _pipeline_statements(trained):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        assert not any(a == "*" or a.endswith(":*") for a in actions), (lid, actions)
        for resource in map(_render, resources):
            assert not resource.startswith("arn:aws:s3:::*"), (lid, resource)
            if resource == "*":  # only actions without resource-level permissions
                assert actions in STAR_ACTIONS, (lid, statement)
                if actions == ["cloudwatch:PutMetricData"]:
                    assert statement["Condition"] == {
                        "StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}
                    }
            elif any(a.startswith("s3:") for a in actions) and resource.startswith(bucket):
                if actions == ["s3:ListBucket"]:
                    prefixes = statement["Condition"]["StringLike"]["s3:prefix"]
                    assert all(p.rstrip("*") in {a.lstrip("/") for a in allowed_s3} for p in prefixes), (
                        prefixes
                    )
                else:
                    assert any(s in resource for s in allowed_s3), (lid, resource)
            elif actions == ["s3:ListBucket"]:
                # the import's code input (an S3Prefix): listing CDK's asset bucket for that one key only
                assert re.match(r"^arn:[^:]+:s3:::cdk-[^/]+$", resource), resource
                [prefix] = statement["Condition"]["StringLike"]["s3:prefix"]
                assert re.match(r"^[0-9a-f]{64}\.gz\*$", prefix), prefix
            elif any(a.startswith("s3:") for a in actions):
                # the one code object in CDK's asset bucket, never the bucket as a whole
                assert re.match(r"^arn:[^:]+:s3:::cdk-[^/]+/[0-9a-f]{64}\.gz$", resource), resource
            checked += 1
    assert checked > 20


def test_the_code_bundle_is_byte_identical_across_synths_and_follows_content(tmp_path):
    from stacks.constructs.dataset import deterministic_targz

    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("x = 1\n")
    (tmp_path / "train.py").write_text("print('hi')\n")
    first = deterministic_targz(tmp_path)
    os.utime(tmp_path / "train.py", (1, 1))
    (tmp_path / "pkg" / "__pycache__").mkdir()
    (tmp_path / "pkg" / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"junk")
    assert deterministic_targz(tmp_path) == first
    (tmp_path / "pkg" / "a.py").write_text("x = 2\n")
    assert deterministic_targz(tmp_path) != first
    with tarfile.open(fileobj=io.BytesIO(first)) as tar:
        assert sorted(tar.getnames()) == ["pkg/a.py", "train.py"]


def test_a_new_fingerprint_gets_a_new_wait_and_an_unchanged_one_keeps_it(synth, trained):
    def wait_ids(template):
        return sorted(k for k in _of_type(template, WAIT) if k.startswith("TrainingWait"))

    again = synth(model="train")
    assert wait_ids(again) == wait_ids(trained)
    assert (
        _one(again, "Custom::TrainingJob")[1]["Properties"]["Fingerprint"]
        == _one(trained, "Custom::TrainingJob")[1]["Properties"]["Fingerprint"]
    )
    retrained = synth(model="train", epochs="20", datasetUri="s3://my-lab-data/isic/")
    assert wait_ids(retrained) != wait_ids(trained)
    # a user folder replaces the import: no import job, read-only access to exactly that prefix
    assert _of_type(retrained, "Custom::DatasetImport") == {}
    assert _one(retrained, "Custom::TrainingJob")[1]["Properties"]["TrainUri"] == "s3://my-lab-data/isic/"
    reads = [s for _, s in _pipeline_statements(retrained) if "my-lab-data" in json.dumps(s)]
    assert {json.dumps(s["Action"]) for s in reads} == {'"s3:GetObject"', '"s3:ListBucket"'}


@pytest.mark.parametrize(
    "context", [{"model": "bundled"}, {"modelDataUrl": "s3://my-models/skin/model.tar.gz"}]
)
def test_a_given_model_skips_import_and_training(synth, context):
    template = synth(**context)
    # the endpoint and Batch Transform still get their model
    assert len(_of_type(template, "AWS::SageMaker::Model")) == 2
    for kind in ("Custom::TrainingJob", "Custom::DatasetImport", WAIT, "AWS::Events::Rule"):
        assert _of_type(template, kind) == {}, kind
    assert "TrainingJobName" not in template.get("Outputs", {})


def test_the_import_job_runs_the_import_cli_with_arguments_it_accepts(trained):
    from isic_import import DEFAULT_QUERIES
    from isic_import.__main__ import parse_args

    from stacks.constructs.dataset import ISIC_QUERIES

    assert ISIC_QUERIES == DEFAULT_QUERIES  # the stack's dataset id hashes the queries the import runs
    props = _one(trained, "Custom::DatasetImport")[1]["Properties"]
    args = parse_args([*props["Arguments"], "--output", "/opt/ml/processing/output"])
    assert (args.image_size, args.dataset_id, args.limit) == (224, props["DatasetId"], 0)
    assert args.benign_query == DEFAULT_QUERIES["benign"]
