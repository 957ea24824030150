"""Synthesize the stack in-process, as `cdk synth` would, with cdk-nag's HIPAA pack reporting.

The context is cdk.json's (plain `App()` ignores cdk.json, and its feature flags change the
template) plus `aws:cdk:bundling-stacks: []`, so pip never runs. With the shipped model
artifact absent (a partial checkout), an S3 model URL stands in: the template's IAM, API
and auth resources are the same either way, only the artifact's S3 location differs.
cdk-nag findings land in `validation-report.json` in the output folder; unacknowledged
errors make `app.synth()` raise, after the template has been written.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
STAND_IN_MODEL_URL = "s3://example-model-bucket/skinlesion/model.tar.gz"


@dataclass(frozen=True)
class Synth:
    """The template and the nag report of one synthesis."""

    template: dict[str, Any]
    report: dict[str, Any] | None
    error: str | None

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return self.template["Resources"]

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {k: r for k, r in self.resources.items() if r["Type"] == kind}

    def violations(self, plugin: str) -> list[tuple[str, str]]:
        """(rule, construct path) for every unacknowledged finding of `plugin`."""
        found = []
        for report in (self.report or {}).get("pluginReports", []):
            if report["pluginName"] != plugin:
                continue
            for violation in report["violations"]:
                for construct in violation["violatingConstructs"]:
                    found.append((violation["ruleName"], construct["constructPath"]))
        return found


def context() -> dict[str, Any]:
    values = json.loads((REPO / "cdk.json").read_text())["context"]
    values["aws:cdk:bundling-stacks"] = []
    if not (REPO / "models" / "default" / "model.tar.gz").exists():
        values["modelDataUrl"] = STAND_IN_MODEL_URL
    return values


def synth(outdir: Path, *, hipaa: bool = True) -> Synth:
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    import aws_cdk as cdk

    from stacks.config import AppConfig
    from stacks.nag import add_nag_checks
    from stacks.stack import SkinLesionStack

    app = cdk.App(context=context(), outdir=str(outdir))
    config = AppConfig.from_context(app.node.try_get_context, {})
    stack = SkinLesionStack(
        app, config.stack_id, config=config, env=cdk.Environment(account=config.account, region=config.region)
    )
    add_nag_checks(app, hipaa=hipaa)
    error = None
    try:
        app.synth()
    except RuntimeError as exc:  # cdk-nag's ValidationFailed; the template is written already
        error = str(exc)
    template = json.loads((outdir / stack.template_file).read_text())
    report_path = outdir / "validation-report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else None
    return Synth(template=template, report=report, error=error)
