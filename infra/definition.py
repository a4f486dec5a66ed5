"""An environment's state machine definition with its CloudFormation references resolved to
concrete names, for running it outside CloudFormation: the DAG tests run dev's on moto's Step
Functions, and the local runtime interprets the committed copy of prod's
(`retail_etl/local/state_machine.json`, the environment with the warehouse load).

    python -m infra.definition dev > build/state_machine.dev.json
    python -m infra.definition prod > retail_etl/local/state_machine.json

Besides the definition: the Lambda functions it invokes (logical ids, named in the ARNs) with
each one's `Handler` property, the SNS topics and the Glue jobs it names.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ACCOUNT, REGION = "123456789012", "eu-west-1"
REPO = Path(__file__).resolve().parents[1]


def synthesized_template(env: str) -> dict:
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    import tempfile

    import aws_cdk as cdk

    from app import build_app

    context = json.loads((REPO / "cdk.json").read_text())["context"]
    with tempfile.TemporaryDirectory() as out:
        app = build_app(cdk.App(context={**context, "env": env}, outdir=out))
        stack = next(c for c in app.node.children if isinstance(c, cdk.Stack))
        return app.synth().get_stack_by_name(stack.stack_name).template


def resolve(template: dict) -> dict:
    """The template's state machine definition, references resolved."""
    resources = template["Resources"]
    machine = next(r for r in resources.values() if r["Type"] == "AWS::StepFunctions::StateMachine")
    handlers, topics, jobs = {}, set(), set()

    def value(part) -> str:
        if isinstance(part, str):
            return part
        if "Ref" in part:
            ref = part["Ref"]
            pseudo = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT}
            if ref in pseudo:
                return pseudo[ref]
            kind = resources[ref]["Type"]
            if kind == "AWS::SNS::Topic":
                topics.add(ref)
                return f"arn:aws:sns:{REGION}:{ACCOUNT}:{ref}"
            if kind == "AWS::Glue::Job":
                name = resources[ref]["Properties"].get("Name", ref)
                jobs.add(name)
                return name
        if "Fn::GetAtt" in part:
            ref = part["Fn::GetAtt"][0]
            if resources[ref]["Type"] == "AWS::Lambda::Function":
                arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{ref}"
                handlers[arn] = resources[ref]["Properties"]["Handler"]
                return arn
        raise ValueError(f"cannot resolve {part}")

    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    definition = json.loads("".join(value(p) for p in parts))
    return {
        "definition": definition,
        "functions": sorted(arn.rpartition(":")[2] for arn in handlers),
        "handlers": dict(sorted(handlers.items())),
        "topics": sorted(topics),
        "glue_jobs": sorted(jobs),
    }


def resolved_definition(env: str) -> dict:
    return resolve(synthesized_template(env))


if __name__ == "__main__":
    json.dump(
        resolved_definition(sys.argv[1] if len(sys.argv) > 1 else "dev"), sys.stdout, indent=1
    )
    print()
