"""What a real account would refuse, checked on the synthesized template before anyone deploys it.

- Every role SageMaker assumes holds AWS's documented minimum for its API, and every S3
  input of its jobs can be listed and read.
- The custom resources carry the quota checks the deploy needs.
- Which settings retrain, and which only replace the WaitCondition (which cannot be updated).
- The served Model runs network-isolated where SageMaker allows it.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any

import cdk_harness as harness
import pytest

from lesion_contract.quotas import KINDS, Need

PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::AccountId": "123456789012",
    "AWS::Region": "us-east-1",
    "AWS::URLSuffix": "amazonaws.com",
}
# https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-roles.html, "CreateTrainingJob API:
# Execution Role Permissions", "CreateProcessingJob API: …" and "CreateModel API: …": each lists
# these actions, plus s3:GetObject (and s3:PutObject for outputs) on the data and s3:ListBucket on
# every input bucket.
DOCUMENTED_MINIMUM = {
    "cloudwatch:PutMetricData",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "logs:CreateLogGroup",
    "logs:DescribeLogStreams",
    "ecr:GetAuthorizationToken",
    "ecr:BatchCheckLayerAvailability",
    "ecr:GetDownloadUrlForLayer",
    "ecr:BatchGetImage",
}


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    """`synth(**context)` -> the stack's template (tests/cdk_harness.py).

    The model_src bundle is pinned for the module, so fingerprints compare settings only,
    even while model_src is being edited between two synths.
    """
    from stacks.constructs import dataset

    bundle = dataset.deterministic_targz(dataset.MODEL_SRC)

    def run(**context: Any) -> dict[str, Any]:
        return harness.synth(tmp_path_factory.mktemp("out"), **context).template

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(dataset, "deterministic_targz", lambda _src: bundle)
        yield run


@pytest.fixture(scope="module")
def trained(synth) -> dict[str, Any]:
    return synth(model="train")


def _render(template: dict[str, Any], expr: Any) -> str:
    """A template expression as a string: pseudo parameters filled in, a bucket's Arn as its ARN."""
    if isinstance(expr, str):
        return expr
    if "Ref" in expr:
        return PSEUDO.get(expr["Ref"], f"<{expr['Ref']}>")
    if "Fn::GetAtt" in expr:
        lid, attribute = expr["Fn::GetAtt"]
        if attribute == "Arn" and template["Resources"][lid]["Type"] == "AWS::S3::Bucket":
            return f"arn:aws:s3:::<{lid}>"
        return f"<{lid}.{attribute}>"
    if "Fn::Join" in expr:
        separator, parts = expr["Fn::Join"]
        return separator.join(_render(template, p) for p in parts)
    if "Fn::Sub" in expr:
        return re.sub(r"\$\{([^}]+)\}", lambda m: PSEUDO.get(m.group(1), f"<{m.group(1)}>"), expr["Fn::Sub"])
    raise AssertionError(f"cannot render {expr}")


def _of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def _one(template: dict[str, Any], kind: str) -> dict[str, Any]:
    [resource] = _of_type(template, kind).values()
    return resource


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def sagemaker_roles(template: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """{role id: its statements} for every role sagemaker.amazonaws.com assumes."""
    roles = {
        lid
        for lid, role in _of_type(template, "AWS::IAM::Role").items()
        if any(
            s["Principal"].get("Service") == "sagemaker.amazonaws.com"
            for s in role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        )
    }
    statements: dict[str, list[dict[str, Any]]] = {lid: [] for lid in roles}
    for policy in _of_type(template, "AWS::IAM::Policy").values():
        for role in policy["Properties"]["Roles"]:
            if role.get("Ref") in roles:
                statements[role["Ref"]] += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def allows(template, statements, action: str, resource: str, prefix: str | None = None) -> bool:
    """Does one Allow statement grant `action` on `resource` (and, for ListBucket, the `prefix`)?"""
    for statement in statements:
        if statement["Effect"] != "Allow" or action not in _listed(statement["Action"]):
            continue
        if not any(
            fnmatch.fnmatchcase(resource, _render(template, r)) for r in _listed(statement["Resource"])
        ):
            continue
        if prefix is None:
            return True
        patterns = statement.get("Condition", {}).get("StringLike", {}).get("s3:prefix")
        if patterns is None or any(fnmatch.fnmatchcase(prefix, p) for p in _listed(patterns)):
            return True
    return False


def s3_inputs(template: dict[str, Any]) -> list[tuple[str, str]]:
    """(bucket, key or prefix) of every S3 location a SageMaker job of this stack reads."""
    uris = []
    for kind, keys in (
        ("Custom::DatasetImport", ["SourceUri"]),
        ("Custom::TrainingJob", ["SourceUri", "TrainUri"]),
    ):
        for resource in _of_type(template, kind).values():
            uris += [_render(template, resource["Properties"][key]) for key in keys]
    return [tuple(uri.removeprefix("s3://").split("/", 1)) for uri in uris]  # type: ignore[misc]


def test_the_checker_finds_every_sagemaker_role_and_input(trained):
    roles = sagemaker_roles(trained)
    assert len(roles) == 3  # the jobs' role, the endpoint's and Batch Transform's
    inputs = s3_inputs(trained)
    assert len(inputs) == 3 and any(key.endswith(".gz") for _, key in inputs)


def test_every_sagemaker_role_holds_the_documented_minimum(trained):
    """https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-roles.html (CreateTrainingJob,
    CreateProcessingJob and CreateModel API: Execution Role Permissions)."""
    for lid, statements in sagemaker_roles(trained).items():
        granted = {a for s in statements if s["Effect"] == "Allow" for a in _listed(s["Action"])}
        assert granted >= DOCUMENTED_MINIMUM, (lid, sorted(DOCUMENTED_MINIMUM - granted))


def test_every_job_input_is_readable_and_its_bucket_listable_by_the_job_role(trained):
    """The same page: "s3:ListBucket" on every input bucket. SageMaker lists an S3Prefix input
    first, even one naming a single object (the import's `code` input on CDK's assets bucket)."""
    [job_role] = [s for lid, s in sagemaker_roles(trained).items() if lid.startswith("TrainingSageMakerRole")]
    for bucket, key in s3_inputs(trained):
        arn = f"arn:aws:s3:::{bucket}"
        assert allows(trained, job_role, "s3:ListBucket", arn, prefix=key), (bucket, key)
        assert allows(trained, job_role, "s3:GetObject", f"{arn}/{key}{'x.jpg' if key.endswith('/') else ''}")


def _endpoint_model(template: dict[str, Any]) -> dict[str, Any]:
    [model] = [m for k, m in _of_type(template, "AWS::SageMaker::Model").items() if k.startswith("Inference")]
    return model


def test_each_model_role_can_read_its_artifact(trained):
    models = _of_type(trained, "AWS::SageMaker::Model")
    assert len(models) == 2  # the endpoint's and Batch Transform's
    for model in models.values():
        role_id = model["Properties"]["ExecutionRoleArn"]["Fn::GetAtt"][0]
        bucket, key = (
            _render(trained, model["Properties"]["PrimaryContainer"]["ModelDataUrl"])
            .removeprefix("s3://")
            .split("/", 1)
        )
        statements = sagemaker_roles(trained)[role_id]
        assert allows(trained, statements, "s3:GetObject", f"arn:aws:s3:::{bucket}/{key}"), role_id


def test_the_checker_fails_a_role_without_list_bucket(trained):
    [job_role] = [s for lid, s in sagemaker_roles(trained).items() if lid.startswith("TrainingSageMakerRole")]
    stripped = [s for s in job_role if "s3:ListBucket" not in _listed(s["Action"])]
    bucket, key = s3_inputs(trained)[0]
    assert not allows(trained, stripped, "s3:ListBucket", f"arn:aws:s3:::{bucket}", prefix=key)


# --- quotas ----------------------------------------------------------------------------------
def _checks(template: dict[str, Any], kind: str) -> list[tuple[str, str, int]]:
    needs = [Need.from_property(v) for v in _one(template, kind)["Properties"]["QuotaChecks"]]
    return [(n.kind, n.instance_type, n.needed) for n in needs]


def test_the_import_checks_every_quota_and_training_its_own_and_the_endpoints(trained):
    assert _checks(trained, "Custom::DatasetImport") == [
        ("processing", "ml.m5.xlarge", 1),
        ("training", "ml.p3.2xlarge", 1),
        ("endpoint", "ml.m5.large", 1),
    ]
    assert _checks(trained, "Custom::TrainingJob") == [
        ("training", "ml.p3.2xlarge", 1),
        ("endpoint", "ml.m5.large", 1),
    ]
    assert set(KINDS) == {"training", "spot-training", "endpoint", "processing"}


def test_the_custom_resource_may_read_service_quotas(trained):
    provider = _one(trained, "Custom::TrainingJob")["Properties"]["ServiceToken"]
    assert provider  # the onEvent function's policy holds the list actions
    granted = {
        a
        for lid, policy in _of_type(trained, "AWS::IAM::Policy").items()
        if lid.startswith("TrainingHandlersOnEvent")
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        for a in _listed(s["Action"])
    }
    assert {"servicequotas:ListServiceQuotas", "servicequotas:ListAWSDefaultServiceQuotas"} <= granted


# --- what retrains, what replaces the wait -------------------------------------------------------
def _job(template: dict[str, Any]) -> dict[str, Any]:
    return _one(template, "Custom::TrainingJob")["Properties"]


def _training_wait(template: dict[str, Any]) -> str:
    [lid] = [
        k for k in _of_type(template, "AWS::CloudFormation::WaitCondition") if k.startswith("TrainingWait")
    ]
    return lid


def test_spot_and_serverless_change_the_checks_and_the_wait_but_not_the_job(synth, trained):
    changed = synth(model="train", trainingSpot="true", endpointType="serverless")
    assert _checks(changed, "Custom::TrainingJob") == [("spot-training", "ml.p3.2xlarge", 1)]
    # spot does not change the model: same fingerprint, same job; its longer timeout needs a new wait
    assert _job(changed)["Fingerprint"] == _job(trained)["Fingerprint"]
    assert _training_wait(changed) != _training_wait(trained)
    assert "EnableNetworkIsolation" not in _endpoint_model(changed)["Properties"]


def test_min_auc_replaces_the_wait_so_the_same_job_is_judged_again(synth, trained):
    changed = synth(model="train", minAuc="0.7")
    assert _job(changed)["Fingerprint"] == _job(trained)["Fingerprint"]
    assert _training_wait(changed) != _training_wait(trained)
    assert _job(changed)["WaitHandleUrl"] != _job(trained)["WaitHandleUrl"]  # a new handle to signal


def test_another_gpu_instance_type_neither_retrains_nor_replaces_the_wait(synth, trained):
    changed = synth(model="train", trainingInstanceType="ml.g5.2xlarge")
    assert _job(changed)["Fingerprint"] == _job(trained)["Fingerprint"]
    assert _training_wait(changed) == _training_wait(trained)
    assert _job(changed)["InstanceType"] == "ml.g5.2xlarge"  # used by the next new or retried attempt


def test_the_real_time_and_batch_models_run_network_isolated(trained):
    for model in _of_type(trained, "AWS::SageMaker::Model").values():
        assert model["Properties"]["EnableNetworkIsolation"] is True
