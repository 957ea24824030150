"""Synthesize the stack in-process, as `cdk synth` would, with cdk-nag's HIPAA pack reporting.

The app is built by `app.build` (what `cdk synth` runs) with cdk.json's context (plain `App()`
ignores cdk.json, and its feature flags change the template), `nag=hipaa`, and
`aws:cdk:bundling-stacks: []` so pip never runs. A tiny model.tar.gz and site folder stand in
for the shipped artifact and the web build (their bytes change no IAM, API or auth resource).
cdk-nag findings land in `validation-report.json` in the output folder; unacknowledged
errors make `app.synth()` raise, after the template has been written.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Synth:
    """The template and the nag report of one synthesis."""

    template: dict[str, Any]
    report: dict[str, Any] | None
    error: str | None
    variant: str = "default"

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


def stand_ins(root: Path) -> dict[str, str]:
    """A site folder with index.html and a model.tar.gz holding a metadata.json."""
    site = root / "site"
    site.mkdir(parents=True, exist_ok=True)
    (site / "index.html").write_text("<!doctype html><title>stand-in</title>")
    metadata = json.dumps({"version": "stand-in", "class_names": ["benign", "malignant"]}).encode()
    model = root / "model.tar.gz"
    with tarfile.open(model, "w:gz") as tar:
        info = tarfile.TarInfo("metadata.json")
        info.size = len(metadata)
        tar.addfile(info, io.BytesIO(metadata))
    return {"siteDir": str(site), "bundledModelPath": str(model)}


def synth(root: Path, **extra_context: Any) -> Synth:
    """Synthesize into `root`/cdk.out with AwsSolutions + HIPAA Security reporting."""
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    import aws_cdk as cdk

    from app import build

    context = json.loads((REPO / "cdk.json").read_text())["context"]
    context |= {"aws:cdk:bundling-stacks": [], "nag": "hipaa"} | stand_ins(root / "inputs") | extra_context
    outdir = root / "cdk.out"
    app = cdk.App(context=context, outdir=str(outdir))
    stack = build(app, {})
    error = None
    try:
        app.synth()
    except RuntimeError as exc:  # cdk-nag's ValidationFailed; the template is written already
        error = str(exc)
    template = json.loads((outdir / stack.template_file).read_text())
    report_path = outdir / "validation-report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else None
    variant = str(extra_context.get("model", "default"))
    return Synth(template=template, report=report, error=error, variant=variant)
