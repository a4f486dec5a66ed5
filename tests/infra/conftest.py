"""One CDK synthesis for the whole test session, shared by every infrastructure test."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Synthesized:
    app: object
    stacks: dict  # environment name -> RetailEtlStack
    templates: dict  # environment name -> template dict
    outdir: Path
    context: dict


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory) -> Synthesized:
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    import aws_cdk as cdk

    from app import build_app

    context = json.loads((REPO / "cdk.json").read_text())["context"]
    outdir = tmp_path_factory.mktemp("cdk.out")
    context_with_assets = {**context, "aws:cdk:enable-asset-metadata": True}
    app = build_app(cdk.App(context=context_with_assets, outdir=str(outdir)))
    assembly = app.synth()
    stacks = {
        child.config.name: child
        for child in app.node.children
        if isinstance(child, cdk.Stack) and hasattr(child, "config")
    }
    templates = {
        name: assembly.get_stack_by_name(s.stack_name).template for name, s in stacks.items()
    }
    return Synthesized(app, stacks, templates, outdir, context)


EXISTING_RAW_BUCKET = "producers-landing-bucket"


@pytest.fixture(scope="session")
def imported_raw_storage() -> dict:
    """The one construct `existing_raw_bucket` changes, alone in a small stack: the template
    of the storage with an imported raw bucket (a whole second app would double the
    synthesis time of the infrastructure tests)."""
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    import aws_cdk as cdk
    from aws_cdk.assertions import Template

    from infra.storage import Storage
    from retail_etl.config import Settings

    stack = cdk.Stack(cdk.App(), "ImportedRaw")
    storage = Storage(
        stack,
        "Storage",
        settings=Settings.for_prefix("retail-etl-test"),
        destroy_data=False,
        raw_infrequent_access_days=30,
        raw_expire_days=365,
        quarantine_expire_days=90,
        noncurrent_version_days=30,
        existing_raw_bucket=EXISTING_RAW_BUCKET,
    )
    assert storage.raw.bucket_name == EXISTING_RAW_BUCKET
    return Template.from_stack(stack).to_json()
