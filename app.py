"""CDK entry point: one RetailEtlStack per environment in cdk.json, checked by cdk-nag.

Stacks are environment-agnostic (account and region resolve at deploy time), so `cdk synth`
needs no credentials and no network. `-c env=dev` synthesises one environment only.
"""

from __future__ import annotations

import aws_cdk as cdk
import cdk_nag

from infra.config import EnvironmentConfig, environment_names
from infra.stack import RetailEtlStack
from retail_etl.config import CONTEXT_KEY


def build_app(app: cdk.App | None = None) -> cdk.App:
    app = app or cdk.App()
    context = app.node.try_get_context(CONTEXT_KEY) or {}
    only = app.node.try_get_context("env")
    for name in environment_names(context):
        if only and name != only:
            continue
        config = EnvironmentConfig.from_context(context, name)
        RetailEtlStack(app, f"RetailEtl-{name}", config=config)
    cdk.Aspects.of(app).add(cdk_nag.AwsSolutionsChecks(verbose=True))
    return app


if __name__ == "__main__":
    build_app().synth()
