"""checkov's findings on the synthesized templates that are accepted, each acknowledged on its
own resource (CloudFormation `Metadata: checkov: skip: [{id, comment}]`, which checkov reads)
with the reason it does not apply there.

Everything else checkov reports is fixed in the constructs; tests/infra/test_stack.py runs
checkov over the session's templates and fails on any finding that is neither fixed nor
acknowledged here.
"""

from __future__ import annotations

from aws_cdk import CfnResource, Stack

from infra.log_groups import LAMBDA_FUNCTION

NO_VPC_OURS = (
    "Not in a VPC on purpose: the function reaches only AWS APIs (S3, DynamoDB, Glue, SQS, SNS, "
    "KMS, X-Ray, the Redshift Data API) over TLS, authorised by its IAM role; no private "
    "resource needs a network path, and a VPC would add a NAT or a dozen interface endpoints "
    "without narrowing what the role can reach."
)
NO_VPC_CDK = (
    "CDK's own deploy-time handler (custom resource or bucket notifications): CloudFormation is "
    "its only caller, during deployments, and it calls only AWS APIs; nothing private to reach."
)
NO_DLQ = {
    "ingest": (
        "Invoked by the SQS event source mapping, never asynchronously: a message that fails "
        "max_receives times goes to the ingest queue's own DLQ (redrive policy), which is "
        "alarmed. A function DLQ only applies to asynchronous invocations."
    ),
    "daily": (
        "Invoked synchronously by the daily state machine (LambdaInvoke, RequestResponse): the "
        "state machine retries transient errors and catches every other failure into the alert "
        "topic. A function DLQ only applies to asynchronous invocations."
    ),
    "freshness": (
        "Invoked asynchronously once a day by its schedule rule: a failure raises the "
        "FreshnessCheckFailed alarm (Errors metric), and the event is a schedule tick with "
        "nothing in it to replay, so a DLQ would hold nothing useful."
    ),
    "cdk": (
        "CDK's own handler, called by CloudFormation through the custom-resource protocol: a "
        "failure fails (and rolls back) the deployment, which is the signal an operator needs."
    ),
}
NO_RESERVED_CONCURRENCY = {
    "daily": (
        "Its concurrency is bounded by the daily state machine (the Map's max_concurrency; plan, "
        "load and mark run once per execution). Reserving concurrency would take it out of the "
        "account's unreserved pool permanently, for a function that runs minutes a day."
    ),
    "freshness": (
        "Runs once a day from a schedule, so one execution at a time; reserving concurrency "
        "would take it out of the account's unreserved pool for nothing."
    ),
    "cdk": (
        "CDK's own handler: runs only during deployments, once per custom resource event; "
        "reserving concurrency would take it out of the account's pool for nothing."
    ),
}
DEPLOYMENT_ENVIRONMENT = (
    "CDK's BucketDeployment handler (uploads the DAGs): its only environment variable is "
    "AWS_CA_BUNDLE, the path of the CA bundle inside the Lambda image; nothing secret to encrypt."
)
ACCESS_LOG_BUCKET_LOGGING = (
    "This is the access-log bucket itself: every other bucket logs here; logging its own "
    "access would write into itself (a loop S3 advises against) or need yet another bucket."
)


def skip(resource: CfnResource, check_id: str, comment: str) -> None:
    """Acknowledge one checkov check on one resource, keeping its other acknowledgments."""
    current = resource.get_metadata("checkov") or {}
    skips = [s for s in current.get("skip", []) if s["id"] != check_id]
    resource.add_metadata("checkov", {"skip": [*skips, {"id": check_id, "comment": comment}]})


def acknowledge_findings(stack: Stack) -> None:
    kinds = {stack.ingestion.function.node.default_child.node.path: "ingest"}
    kinds.update({fn.node.default_child.node.path: "daily" for fn in stack.aggregation.functions})
    kinds[stack.monitoring.freshness.node.default_child.node.path] = "freshness"
    for construct in stack.node.find_all():
        if not isinstance(construct, CfnResource):
            continue
        if construct.cfn_resource_type != LAMBDA_FUNCTION:
            continue
        kind = kinds.get(construct.node.path, "cdk")
        skip(construct, "CKV_AWS_117", NO_VPC_CDK if kind == "cdk" else NO_VPC_OURS)
        skip(construct, "CKV_AWS_116", NO_DLQ[kind])
        if kind != "ingest":  # the ingest function has its reserved concurrency
            skip(construct, "CKV_AWS_115", NO_RESERVED_CONCURRENCY[kind])
        if "CDKBucketDeployment" in construct.node.path:
            skip(construct, "CKV_AWS_173", DEPLOYMENT_ENVIRONMENT)
    skip(stack.storage.access_logs.node.default_child, "CKV_AWS_18", ACCESS_LOG_BUCKET_LOGGING)
