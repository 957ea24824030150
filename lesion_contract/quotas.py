"""The SageMaker instance quotas a deploy needs, read from Service Quotas before anything costly starts.

Many accounts have a quota of 0 for GPU training (`ml.p3.2xlarge for training job
usage`) or for its spot variant; SageMaker then refuses the job only when it is
created, hours into a deploy if the ISIC import ran first. The custom resources
check every quota the chosen knobs need (import, training, endpoint) before they
start a job and fail in seconds with the quota's name, its value, what is needed
and how to ask for more. `skinlesion preflight` runs the same check from a laptop.

Standard library only, with the Service Quotas client passed in, in the contract
package that the stack (which writes the needs into the custom resources), the
training Lambda's bundle and the CLI all import.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

SERVICE_CODE = "sagemaker"
# Service Quotas' names for SageMaker's per-instance-type quotas.
KINDS = {
    "training": "{} for training job usage",
    "spot-training": "{} for spot training job usage",
    "endpoint": "{} for endpoint usage",
    "processing": "{} for processing job usage",
}
_PAGE = 100  # ListServiceQuotas' largest page


class QuotaError(RuntimeError):
    """A quota is below what the deploy needs; the message says which and how to raise it."""


@dataclass(frozen=True)
class Need:
    """`needed` instances of `instance_type` for one use (`kind`, a key of KINDS)."""

    kind: str
    instance_type: str
    needed: int
    purpose: str

    @property
    def quota_name(self) -> str:
        return KINDS[self.kind].format(self.instance_type)

    def as_property(self) -> dict[str, str]:
        """The custom resource property form (CloudFormation delivers strings)."""
        return {
            "Kind": self.kind,
            "InstanceType": self.instance_type,
            "Needed": str(self.needed),
            "Purpose": self.purpose,
        }

    @classmethod
    def from_property(cls, value: Mapping[str, Any]) -> Need:
        kind = str(value.get("Kind", ""))
        if kind not in KINDS:
            raise ValueError(f"quota check kind must be one of {', '.join(KINDS)}, got {kind!r}")
        return cls(kind, str(value["InstanceType"]), int(value["Needed"]), str(value.get("Purpose", kind)))


def training_need(instance_type: str, count: int, *, spot: bool) -> Need:
    """The training job: its on-demand or its spot quota, whichever the knobs choose."""
    if spot:
        return Need("spot-training", instance_type, count, "training job (spot)")
    return Need("training", instance_type, count, "training job")


def endpoint_need(instance_type: str, count: int) -> Need:
    return Need("endpoint", instance_type, count, "real-time endpoint")


def processing_need(instance_type: str, count: int = 1) -> Need:
    return Need("processing", instance_type, count, "ISIC import (processing job)")


def during_model_update(needs: Iterable[Need]) -> list[Need]:
    """The needs when a new model replaces a running one: the endpoint's doubled.

    SageMaker rolls a real-time endpoint to a new model blue/green: the new fleet is
    provisioned in full before the old one goes, so both count against the quota.
    """
    return [
        Need(n.kind, n.instance_type, 2 * n.needed, f"{n.purpose} during a model update (old and new fleets)")
        if n.kind == "endpoint"
        else n
        for n in needs
    ]


@dataclass(frozen=True)
class Finding:
    """One need held against the account's quota. `value` None: not known (see `error`)."""

    need: Need
    value: float | None
    quota_code: str | None
    error: str = ""

    @property
    def status(self) -> str:
        """`ok`, `short` (a blocker) or `unknown` (the check could not run)."""
        if self.value is None:
            return "unknown"
        return "ok" if self.value >= self.need.needed else "short"

    def describe(self, region: str) -> str:
        """One paragraph: the quota, its value, the need, and how to ask for more."""
        need = self.need
        if self.status == "unknown":
            return f"'{need.quota_name}' ({need.purpose}, needs {need.needed}): not checked: {self.error}"
        head = f"'{need.quota_name}' is {self.value:g}, the {need.purpose} needs {need.needed}"
        if self.status == "ok":
            return head
        return f"{head}. Request more: {request_command(self, region)} (or {console_url(self, region)})"


def request_command(finding: Finding, region: str) -> str:
    """The AWS CLI command that asks for the needed value."""
    code = finding.quota_code or "<quota code: see the console page>"
    return (
        f"aws service-quotas request-service-quota-increase --service-code {SERVICE_CODE} "
        f"--quota-code {code} --desired-value {finding.need.needed} --region {region}"
    )


def console_url(finding: Finding, region: str) -> str:
    base = f"https://{region}.console.aws.amazon.com/servicequotas/home/services/{SERVICE_CODE}/quotas"
    return f"{base}/{finding.quota_code}" if finding.quota_code else base


def _scan(client: Any, operation: str, wanted: set[str], found: dict[str, tuple[str, float]]) -> None:
    """Page through `operation` until every wanted name is found or the pages end."""
    kwargs: dict[str, Any] = {"ServiceCode": SERVICE_CODE, "MaxResults": _PAGE}
    while wanted - found.keys():
        page = getattr(client, operation)(**kwargs)
        for quota in page.get("Quotas", []):
            name = quota.get("QuotaName")
            if name in wanted and name not in found and "Value" in quota:
                found[name] = (str(quota.get("QuotaCode", "")), float(quota["Value"]))
        if not page.get("NextToken"):
            return
        kwargs["NextToken"] = page["NextToken"]


def read_quotas(client: Any, names: Iterable[str]) -> dict[str, tuple[str, float]]:
    """{quota name: (quota code, value)}: the account's applied values, else AWS's defaults.

    ListServiceQuotas returns only quotas with an applied value; a quota never
    changed for the account has only its default (ListAWSDefaultServiceQuotas).
    """
    wanted = set(names)
    found: dict[str, tuple[str, float]] = {}
    _scan(client, "list_service_quotas", wanted, found)
    if wanted - found.keys():
        _scan(client, "list_aws_default_service_quotas", wanted, found)
    return found


def check(client: Any, needs: Iterable[Need]) -> list[Finding]:
    """Each need against its quota. An API error makes every finding `unknown`, never a blocker."""
    needs = list(needs)
    try:
        found = read_quotas(client, {n.quota_name for n in needs})
    except Exception as err:  # AccessDenied, throttling, no network: the check cannot decide
        reason = _error_text(err)
        return [Finding(n, None, None, f"Service Quotas: {reason}") for n in needs]
    findings = []
    for need in needs:
        code, value = found.get(need.quota_name, (None, None))
        error = "" if value is not None else f"no such quota ({need.instance_type} not offered here?)"
        findings.append(Finding(need, value, code, error))
    return findings


def blocker_message(findings: Iterable[Finding], region: str) -> str:
    """The reason a deploy stops, '' when no quota is short."""
    short = [f for f in findings if f.status == "short"]
    if not short:
        return ""
    lines = "; ".join(f.describe(region) for f in short)
    return (
        f"SageMaker quota too low, nothing was started: {lines}. Deploy again once the increase is "
        "approved, or choose other instances "
        "(-c trainingInstanceType=…, -c trainingSpot=…, -c instanceType=…)."
    )


def enforce(client: Any, needs: Iterable[Need], region: str) -> list[Finding]:
    """Raise QuotaError when a quota is short; quotas that cannot be read do not stop the deploy."""
    findings = check(client, needs)
    message = blocker_message(findings, region)
    if message:
        raise QuotaError(message)
    return findings


def _error_text(err: Exception) -> str:
    response = getattr(err, "response", None) or {}
    error = response.get("Error", {})
    if error:
        return f"{error.get('Code', type(err).__name__)}: {error.get('Message', '')}".strip()
    return f"{type(err).__name__}: {err}"
