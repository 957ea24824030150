"""The real `cdk synth` through the pinned npm CLI, then cfn-lint over every template it wrote.

`make test` installs the CLI (`npm ci` from the committed package-lock.json), so this
test needs no skip. Synth is offline: notices and telemetry are off in cdk.json, and
the Lambda's wheels come from build/lambda-deps once PyPI has been asked the first time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from cdk_harness import REPO, stand_ins, synth

CDK = REPO / "node_modules" / ".bin" / "cdk"
CFN_LINT = Path(sys.executable).parent / "cfn-lint"
# Warnings accepted: W3005, DependsOn entries CDK itself adds next to a GetAtt.
ACCEPTED_WARNINGS = {"W3005"}


def _inputs(root: Path) -> list[str]:
    """The real web build and shipped model when present, tiny stand-ins otherwise."""
    inputs = stand_ins(root)
    args = []
    if not (REPO / "web" / "dist" / "index.html").is_file():
        args += ["-c", f"siteDir={inputs['siteDir']}"]
    if not (REPO / "models" / "default" / "model.tar.gz").is_file():
        args += ["-c", f"bundledModelPath={inputs['bundledModelPath']}"]
    return args


@pytest.fixture(scope="module")
def cli_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert CDK.exists(), "the pinned CDK CLI is missing: run `npm ci` (make test does)"
    root = tmp_path_factory.mktemp("cli")
    env = os.environ | {
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "CDK_DISABLE_CLI_TELEMETRY": "true",
        "CDK_DISABLE_VERSION_CHECK": "1",
    }
    env.pop("CDK_DEFAULT_REGION", None)  # the documented default region, whatever the shell has
    command = [str(CDK), "synth", "-q", "--no-notices", "-o", str(root / "cdk.out"), *_inputs(root)]
    started = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - started
    print(f"\n`cdk synth -q` (fresh outdir, bundling included): {elapsed:.1f} s wall")
    assert result.returncode == 0, result.stderr[-4000:]
    return root / "cdk.out"


def _lint(templates: list[Path]) -> list[dict[str, Any]]:
    result = subprocess.run(
        [str(CFN_LINT), "--format", "json", "-t", *map(str, templates)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode in (0, 2, 4, 6, 8, 10, 12, 14), result.stderr[-2000:]  # bit flags: E=2, W=4, I=8
    return json.loads(result.stdout or "[]")


def _unaccepted(matches: list[dict[str, Any]]) -> list[str]:
    return [
        f"{m['Rule']['Id']} {m['Level']}: {m['Message']} ({m['Location']['Path']})"
        for m in matches
        if m["Level"] != "Informational" and m["Rule"]["Id"] not in ACCEPTED_WARNINGS
    ]


def test_cdk_synth_writes_the_one_stack_with_its_outputs(cli_out: Path) -> None:
    templates = sorted(cli_out.glob("*.template.json"))
    assert [t.name for t in templates] == ["SkinLesion.template.json"]
    outputs = json.loads(templates[0].read_text())["Outputs"]
    assert {"WebUrl", "ApiUrl", "UserPoolId", "UserPoolClientId", "EndpointName", "Region"} <= set(outputs)
    bundle = [p for p in cli_out.glob("asset.*/predict_api") if p.is_dir()]
    assert len(bundle) == 1, "the Lambda asset must hold the predict_api package"
    assert list(bundle[0].parent.glob("PIL/_imaging.cpython-312-x86_64-linux-gnu.so")), (
        "Pillow for cp312 Linux"
    )
    # The contract package ships beside the handler: the bundle alone (as /var/task) imports both.
    probe = subprocess.run(
        [sys.executable, "-S", "-c", "import predict_api.openapi as o; print(o.contract.__file__)"],
        env={"PYTHONPATH": str(bundle[0].parent)},
        cwd=bundle[0].parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.returncode == 0, probe.stderr[-2000:]
    assert Path(probe.stdout.strip()).is_relative_to(bundle[0].parent)


def test_cfn_lint_finds_no_errors_and_only_accepted_warnings(cli_out: Path) -> None:
    matches = _lint(sorted(cli_out.glob("*.template.json")))
    assert _unaccepted(matches) == []
    print(f"cfn-lint: 0 errors, {sum(m['Rule']['Id'] == 'W3005' for m in matches)} x W3005 (accepted)")


def test_training_variant_lints_clean_and_retains_nothing(tmp_path: Path) -> None:
    trained = synth(tmp_path, model="train")
    assert trained.template_file is not None
    assert _unaccepted(_lint([trained.template_file])) == []
    # The training pipeline, too, leaves nothing behind on `cdk destroy`.
    resources = trained.resources
    assert "Custom::TrainingJob" in {r["Type"] for r in resources.values()}
    assert {k for k, r in resources.items() if r.get("DeletionPolicy", "Delete") != "Delete"} == set()
