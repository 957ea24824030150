"""The one in-process synthesis harness: the real app (`app.build`), as `cdk synth` runs it.

cdk.json's context is loaded (plain `App()` ignores cdk.json, and its feature flags change
the template), `aws:cdk:bundling-stacks: []` keeps pip from running, and a tiny site folder
and model.tar.gz stand in for the web build and the shipped model (their bytes change no
resource the tests look at). `build_stack` gives the stack for `Template.from_stack`;
`synth` writes the cloud assembly and, with `nag=…`, cdk-nag's report.

cdk-nag's report lists only packs that found something, so an empty report cannot tell "no
findings" from "the pack never ran". `synth` therefore adds a canary stack with one bare
bucket whenever cdk-nag runs, and `Synth.violations` fails unless the pack flagged it.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CANARY = "NagCanary"
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


def cdk_json_context() -> dict[str, Any]:
    return dict(json.loads((REPO / "cdk.json").read_text())["context"])


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


def build_stack(outdir: Path, environ: dict[str, str] | None = None, **context: Any) -> tuple[Any, Any]:
    """(app, stack) for `context` (as `-c key=value` gives it), stand-ins in `outdir`/inputs."""
    import aws_cdk as cdk

    from app import build

    ctx = cdk_json_context() | {"aws:cdk:bundling-stacks": []} | stand_ins(outdir / "inputs") | context
    app = cdk.App(context=ctx, outdir=str(outdir / "cdk.out"))
    return app, build(app, environ or {})


@dataclass(frozen=True)
class Synth:
    """The template and cdk-nag's report of one synthesis."""

    template: dict[str, Any]
    report: dict[str, Any] | None
    error: str | None
    variant: str = "default"
    template_file: Path | None = None

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return self.template["Resources"]

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {k: r for k, r in self.resources.items() if r["Type"] == kind}

    def violations(self, plugin: str) -> list[tuple[str, str]]:
        """(rule, construct path) of every unacknowledged finding of `plugin` outside the canary.

        Fails when the pack flagged nothing on the canary: then it did not run at all.
        """
        found = []
        for report in (self.report or {}).get("pluginReports", []):
            if report["pluginName"] != plugin:
                continue
            for violation in report["violations"]:
                for construct in violation["violatingConstructs"]:
                    found.append((violation["ruleName"], construct["constructPath"]))
        assert any(path.startswith(f"{CANARY}/") for _, path in found), (
            f"cdk-nag's {plugin} pack did not run (its canary bucket was not flagged)"
        )
        return [(rule, path) for rule, path in found if not path.startswith(f"{CANARY}/")]


def synth(root: Path, **context: Any) -> Synth:
    """Synthesize into `root`/cdk.out; with `nag=true|hipaa` in `context`, cdk-nag reports too."""
    app, stack = build_stack(root, **context)
    if str(context.get("nag", "false")) != "false":
        import aws_cdk as cdk
        from aws_cdk import aws_s3 as s3

        s3.CfnBucket(cdk.Stack(app, CANARY), "BareBucket")  # unencrypted, unlogged: every pack flags it
    error = None
    try:
        app.synth()
    except RuntimeError as exc:  # cdk-nag's ValidationFailed; the files are written already
        error = str(exc)
        assert "ValidationFailed" in error, error
    outdir = Path(app.outdir)
    report_path = outdir / "validation-report.json"
    return Synth(
        template=json.loads((outdir / stack.template_file).read_text()),
        report=json.loads(report_path.read_text()) if report_path.exists() else None,
        error=error,
        variant=str(context.get("model", "default")),
        template_file=outdir / stack.template_file,
    )
