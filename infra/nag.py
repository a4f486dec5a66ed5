"""cdk-nag AwsSolutions acknowledgments, each with the reason a reviewer would accept.

Acknowledged findings are the ones where the rule's generic advice does not fit this
pipeline; everything else is fixed in the constructs.
"""

from __future__ import annotations

import aws_cdk as cdk
from constructs import IConstruct

REASONS: dict[str, str] = {}


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    cdk.Validations.of(scope).acknowledge(
        cdk.Acknowledgment(id=f"AwsSolutions::{rule}", reason=reason)
    )


def acknowledge_findings(stack: cdk.Stack) -> None:
    for rule, reason in REASONS.items():
        acknowledge(stack, rule, reason)
