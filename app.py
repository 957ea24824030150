#!/usr/bin/env python3
"""The CDK app: one stack, `SkinLesion`, configured from context (`cdk synth -c key=value`).

No AWS calls here: the region comes from `-c region=…`, else the CLI's
CDK_DEFAULT_REGION (your AWS profile), else us-east-1, and is fixed at synth so
the SageMaker image URI resolves to a literal. `-c nag=true` runs the cdk-nag
AwsSolutions gate on synth; `-c nag=hipaa` adds the HIPAA Security pack.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import aws_cdk as cdk

from stacks.config import AppConfig, ConfigError, parse_choice
from stacks.nag import add_nag_checks
from stacks.stack import SkinLesionStack


def build(app: cdk.App, environ: Mapping[str, str]) -> SkinLesionStack:
    """Configure and add the stack (and cdk-nag when asked); tests call this with their own App."""
    config = AppConfig.from_context(app.node.try_get_context, environ)
    nag = parse_choice("nag", app.node.try_get_context("nag"), "false", ("false", "true", "hipaa"))
    stack = SkinLesionStack(
        app, config.stack_id, config=config, env=cdk.Environment(account=config.account, region=config.region)
    )
    cdk.Tags.of(stack).add("project", "skin-lesion-classifier")
    if nag != "false":
        add_nag_checks(app, hipaa=nag == "hipaa")
    return stack


def main() -> None:
    app = cdk.App()
    try:
        build(app, os.environ)
    except (ConfigError, FileNotFoundError) as err:
        raise SystemExit(f"cdk synth: {err}") from None
    app.synth()


if __name__ == "__main__":
    main()
