"""The synthesized templates: security, wiring, the state machine, IAM, cdk-nag, cfn-lint."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from infra.aggregation import MAX_POLLS
from infra.config import EnvironmentConfig

ENVS = ("dev", "prod")
DATA_SERVICES = ("s3:", "dynamodb:", "kms:", "sqs:", "sns:", "glue:StartJobRun")


def resources(template: dict, kind: str) -> dict:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def config(synthesized, env: str) -> EnvironmentConfig:
    return EnvironmentConfig.from_context(synthesized.context["retail-etl"], env)


@pytest.mark.parametrize("env", ENVS)
def test_every_bucket_is_encrypted_private_and_tls_only(synthesized, env):
    template = synthesized.templates[env]
    buckets = resources(template, "AWS::S3::Bucket")
    assert len(buckets) >= 5
    policies = {
        p["Properties"]["Bucket"]["Ref"]: p["Properties"]["PolicyDocument"]["Statement"]
        for p in resources(template, "AWS::S3::BucketPolicy").values()
    }
    for name, bucket in buckets.items():
        props = bucket["Properties"]
        rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        algorithm = rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"]
        assert algorithm in ("aws:kms", "AES256"), name
        if "AccessLogs" not in name:
            assert algorithm == "aws:kms", name
            assert "LoggingConfiguration" in props, name
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }, name
        denies_plain_http = [
            s
            for s in policies[name]
            if s["Effect"] == "Deny"
            and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
        ]
        assert denies_plain_http, name


@pytest.mark.parametrize("env", ENVS)
def test_raw_bucket_is_versioned_notifies_eventbridge_and_expires(synthesized, env):
    stack = synthesized.stacks[env]
    raw = synthesized.templates[env]["Resources"][
        stack.get_logical_id(stack.storage.raw.node.default_child)
    ]["Properties"]
    assert raw["VersioningConfiguration"] == {"Status": "Enabled"}
    cfg = config(synthesized, env)
    rule = raw["LifecycleConfiguration"]["Rules"][0]
    assert rule["ExpirationInDays"] == cfg.raw_expire_days
    assert rule["Transitions"][0]["TransitionInDays"] == cfg.raw_infrequent_access_days
    notifications = resources(synthesized.templates[env], "Custom::S3BucketNotifications")
    assert any(
        n["Properties"]["NotificationConfiguration"].get("EventBridgeConfiguration") == {}
        for n in notifications.values()
    )


def test_prod_data_is_always_retained_and_dev_data_destroyed_only_when_configured(synthesized):
    for env in ENVS:
        template = synthesized.templates[env]
        stateful = {
            **resources(template, "AWS::S3::Bucket"),
            **resources(template, "AWS::DynamoDB::Table"),
            **resources(template, "AWS::KMS::Key"),
        }
        policies = {v.get("DeletionPolicy", "Delete") for v in stateful.values()}
        expected = "Retain" if not config(synthesized, env).destroy_data else "Delete"
        assert policies == {expected}, env
    prod = EnvironmentConfig(name="prod", prefix="p", destroy_data_on_delete=True)
    assert prod.destroy_data is False


@pytest.mark.parametrize("env", ENVS)
def test_ledger_has_point_in_time_recovery_and_kms(synthesized, env):
    (ledger,) = resources(synthesized.templates[env], "AWS::DynamoDB::Table").values()
    props = ledger["Properties"]
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert props["SSESpecification"]["SSEType"] == "KMS"


@pytest.mark.parametrize("env", ENVS)
def test_ingest_queue_has_a_dlq_and_the_lambda_reports_partial_failures(synthesized, env):
    template = synthesized.templates[env]
    queues = resources(template, "AWS::SQS::Queue")
    with_redrive = [q for q in queues.values() if "RedrivePolicy" in q["Properties"]]
    assert len(with_redrive) == 1
    redrive = with_redrive[0]["Properties"]["RedrivePolicy"]
    assert redrive["maxReceiveCount"] == config(synthesized, env).ingest_max_receives
    assert all("KmsMasterKeyId" in q["Properties"] for q in queues.values())
    (mapping,) = resources(template, "AWS::Lambda::EventSourceMapping").values()
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    rules = resources(template, "AWS::Events::Rule")
    assert any(
        r["Properties"].get("EventPattern", {}).get("detail-type") == ["Object Created"]
        for r in rules.values()
    )


@pytest.mark.parametrize("env", ENVS)
def test_every_lambda_handler_exists_in_its_asset(synthesized, env):
    functions = resources(synthesized.templates[env], "AWS::Lambda::Function")
    ours = {k: f for k, f in functions.items() if f["Properties"]["Handler"].startswith("lambdas.")}
    assert len(ours) >= 5
    for name, fn in ours.items():
        props = fn["Properties"]
        assert props["Runtime"] == "python3.13", name
        assert len(props["Layers"]) == 3, name  # PyIceberg's, AWS SDK for pandas, Powertools
        asset = synthesized.outdir / fn["Metadata"]["aws:asset:path"]
        module, _, function = props["Handler"].rpartition(".")
        assert (asset / (module.replace(".", "/") + ".py")).is_file(), name
        assert (asset / "retail_etl" / "domain" / "events.py").is_file()
        assert not (asset / "retail_etl" / "generator").exists()  # test-data code stays out
        assert (asset / "sources" / "rees46.yaml").is_file(), name  # profiles ship with it
        assert callable(getattr(importlib.import_module(module), function)), name


@pytest.mark.parametrize("env", ENVS)
def test_source_profiles_are_validated_at_synth_and_the_salt_is_readable(synthesized, env):
    stack = synthesized.stacks[env]
    runtimes = [c for c in stack.node.find_all() if hasattr(c, "profiles")]
    assert runtimes and {"rees46", "uci_online_retail", "ga4"} <= set(runtimes[0].profiles)
    template = synthesized.templates[env]
    ingest = next(
        f
        for f in resources(template, "AWS::Lambda::Function").values()
        if f["Properties"]["Handler"] == "lambdas.ingest.handler.handler"
    )
    variables = ingest["Properties"]["Environment"]["Variables"]
    assert variables["RETAIL_ETL_HASH_SALT_PARAMETER"].endswith("/user-id-salt")
    statements = [
        s
        for p in resources(template, "AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert any(s["Action"] == "ssm:GetParameter" for s in statements)


def test_code_and_layers_stay_under_lambdas_unzipped_limit(synthesized):
    from infra import layer

    template = synthesized.templates["prod"]
    functions = resources(template, "AWS::Lambda::Function")
    code = {
        f["Metadata"]["aws:asset:path"]
        for f in functions.values()
        if f["Properties"]["Handler"].startswith("lambdas.")
    }
    stack = synthesized.stacks["prod"]
    iceberg = template["Resources"][stack.get_logical_id(stack.runtime.iceberg.node.default_child)]
    layers = iceberg["Metadata"]["aws:asset:path"]
    sizes = {path: layer.unzipped_bytes(synthesized.outdir / path) for path in (*code, layers)}
    assert len(code) == 1  # one code asset shared by every function
    assert (synthesized.outdir / layers / "python" / "pyiceberg" / "table").is_dir()
    assert not (synthesized.outdir / layers / "python" / "pyiceberg" / "cli").exists()
    # what the source profiles need at run time (neither is in the managed layers' list)
    assert (synthesized.outdir / layers / "python" / "yaml" / "__init__.py").is_file()
    assert (synthesized.outdir / layers / "python" / "pydantic").is_dir()
    total = sum(sizes.values()) + layer.MANAGED_LAYERS_BYTES
    assert total < layer.LAMBDA_UNZIPPED_LIMIT, sizes


def definition(synthesized, env: str) -> dict:
    (machine,) = resources(synthesized.templates[env], "AWS::StepFunctions::StateMachine").values()
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    text = "".join(p if isinstance(p, str) else "TOKEN" for p in parts)  # tokens sit in strings
    return json.loads(text)


def all_states(states: dict):
    for name, state in states.items():
        yield name, state, False
        if state["Type"] == "Map":
            processor = state.get("ItemProcessor") or state.get("Iterator")
            for inner_name, inner, _ in all_states(processor["States"]):
                yield inner_name, inner, True


@pytest.mark.parametrize("env", ENVS)
def test_every_task_retries_and_is_caught_into_an_alert(synthesized, env):
    states = definition(synthesized, env)["States"]
    tasks = [(n, s, inside) for n, s, inside in all_states(states) if s["Type"] == "Task"]
    assert tasks
    for name, state, inside_map in tasks:
        assert state.get("Retry"), name
        if name == "AlertWithCause":
            continue
        if inside_map:  # caught by the Map, which alerts
            continue
        assert state.get("Catch"), name
        assert state["Catch"][0]["Next"] == "AlertWithCause"
    (the_map,) = [s for _, s, _ in all_states(states) if s["Type"] == "Map"]
    assert the_map["Catch"][0]["Next"] == "AlertWithCause"
    assert the_map["MaxConcurrency"] == config(synthesized, env).map_concurrency
    assert states["AlertWithCause"]["Resource"].endswith(":sns:publish") or "sns" in json.dumps(
        states["AlertWithCause"]
    )


def test_the_load_poll_loop_is_bounded_and_handles_every_final_state(synthesized):
    states = definition(synthesized, "prod")["States"]
    choice = states["LoadStatus"]["Choices"]
    by_value = {c.get("StringEquals"): c["Next"] for c in choice if "StringEquals" in c}
    assert by_value == {
        "FINISHED": "MarkLoaded",
        "FAILED": "ExplainLoadFailure",
        "ABORTED": "ExplainLoadFailure",
    }
    bound = [c for c in choice if "NumericGreaterThanEquals" in c]
    assert bound and bound[0]["NumericGreaterThanEquals"] == MAX_POLLS
    assert bound[0]["Variable"] == "$.polls.count"
    assert states["LoadStatus"]["Default"] == "WaitForLoad"
    assert "redshiftdata:describeStatement" in states["DescribeLoad"]["Resource"]
    assert "LoadStatus" not in definition(synthesized, "dev")["States"]  # warehouse off in dev


@pytest.mark.parametrize("env", ENVS)
def test_the_engine_choice_threshold_comes_from_config(synthesized, env):
    states = definition(synthesized, env)["States"]
    choice = states["EachDate"]["ItemProcessor"]["States"]["LambdaOrGlue"]["Choices"][0]
    assert choice == {"Variable": "$.engine", "StringEquals": "glue", "Next": "PrepareGlue"}
    # a large date is refreshed on Lambda, aggregated on Glue, committed on Lambda
    inner = states["EachDate"]["ItemProcessor"]["States"]
    assert inner["PrepareGlue"]["Next"] == "AggregateOnGlue"
    assert inner["AggregateOnGlue"]["Next"] == "PublishGlueOutput"
    arguments = inner["AggregateOnGlue"]["Parameters"]["Arguments"]
    assert arguments["--manifest.$"] == "$.glue.manifest"
    stack = synthesized.stacks[env]
    plan = synthesized.templates[env]["Resources"][
        stack.get_logical_id(stack.aggregation.plan_fn.node.default_child)
    ]
    threshold = plan["Properties"]["Environment"]["Variables"]["RETAIL_ETL_GLUE_THRESHOLD_BYTES"]
    assert int(threshold) == config(synthesized, env).glue_threshold_bytes


@pytest.mark.parametrize("env", ENVS)
def test_state_machine_is_standard_logs_all_and_traces(synthesized, env):
    (machine,) = resources(synthesized.templates[env], "AWS::StepFunctions::StateMachine").values()
    props = machine["Properties"]
    assert props["StateMachineType"] == "STANDARD"
    assert props["LoggingConfiguration"]["Level"] == "ALL"
    assert props["TracingConfiguration"]["Enabled"] is True


@pytest.mark.parametrize("env", ENVS)
def test_no_data_action_is_granted_on_every_resource(synthesized, env):
    template = synthesized.templates[env]
    for name, policy in {
        **resources(template, "AWS::IAM::Policy"),
        **resources(template, "AWS::IAM::ManagedPolicy"),
    }.items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            targets = statement.get("Resource")
            targets = targets if isinstance(targets, list) else [targets]
            if "*" not in targets:
                continue
            actions = statement["Action"]
            actions = actions if isinstance(actions, list) else [actions]
            data = [a for a in actions if a.startswith(DATA_SERVICES)]
            assert not data, (name, data)


@pytest.mark.parametrize("env", ENVS)
def test_the_lambdas_may_commit_only_their_own_databases_iceberg_tables(synthesized, env):
    template = synthesized.templates[env]
    database = config(synthesized, env).prefix.replace("-", "_")
    grants = [
        statement
        for policy in resources(template, "AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "glue:UpdateTable" in json.dumps(statement["Action"])
    ]
    # ingest, plan, aggregate, prepare and publish Glue; submit_load where the warehouse is on
    assert len(grants) == 5 + config(synthesized, env).warehouse
    for statement in grants:
        targets = json.dumps(statement["Resource"])
        assert f"database/{database}" in targets and f"table/{database}/*" in targets
        assert '"*"' not in targets


def test_glue_job_is_glue_5_with_a_security_configuration(synthesized):
    (job,) = resources(synthesized.templates["prod"], "AWS::Glue::Job").values()
    props = job["Properties"]
    assert props["GlueVersion"] == "5.0"
    assert props["SecurityConfiguration"]
    assert props["Command"]["Name"] == "glueetl"


def test_warehouse_is_private_with_a_managed_password_and_a_narrow_copy_role(synthesized):
    template = synthesized.templates["prod"]
    (namespace,) = resources(template, "AWS::RedshiftServerless::Namespace").values()
    (workgroup,) = resources(template, "AWS::RedshiftServerless::Workgroup").values()
    assert namespace["Properties"]["ManageAdminPassword"] is True
    assert "AdminUserPassword" not in namespace["Properties"]
    assert workgroup["Properties"]["PubliclyAccessible"] is False
    assert workgroup["Properties"]["BaseCapacity"] == config(synthesized, "prod").redshift_base_rpu
    assert resources(template, "AWS::EC2::FlowLog")
    assert not resources(synthesized.templates["dev"], "AWS::RedshiftServerless::Workgroup")


def test_prod_runs_mwaa_privately_and_dev_uses_eventbridge_scheduler(synthesized):
    (env,) = resources(synthesized.templates["prod"], "AWS::MWAA::Environment").values()
    props = env["Properties"]
    assert props["WebserverAccessMode"] == "PRIVATE_ONLY"
    assert props["AirflowVersion"] == config(synthesized, "prod").airflow_version
    option = props["AirflowConfigurationOptions"]["retail_etl.state_machine_arn"]
    assert option == {"Ref": next(iter(resources(
        synthesized.templates["prod"], "AWS::StepFunctions::StateMachine")))}  # fmt: skip
    assert props["AirflowConfigurationOptions"]["retail_etl.schedule"] == "30 2 * * *"
    assert props["RequirementsS3Path"] == "dags/requirements.txt"
    assert not resources(synthesized.templates["prod"], "AWS::Scheduler::Schedule")
    (schedule,) = resources(synthesized.templates["dev"], "AWS::Scheduler::Schedule").values()
    assert schedule["Properties"]["ScheduleExpression"] == config(synthesized, "dev").schedule_utc


@pytest.mark.parametrize("env", ENVS)
def test_alarms_cover_dlq_lambdas_state_machine_glue_and_freshness(synthesized, env):
    template = synthesized.templates[env]
    alarms = resources(template, "AWS::CloudWatch::Alarm").values()
    metrics = {a["Properties"].get("MetricName") for a in alarms}
    assert {
        "ApproximateNumberOfMessagesVisible",
        "Errors",
        "Throttles",
        "ExecutionsFailed",
        "ExecutionsTimedOut",
    } <= metrics
    assert all(a["Properties"]["AlarmActions"] for a in alarms)
    assert resources(template, "AWS::CloudWatch::Dashboard")
    rules = [r["Properties"] for r in resources(template, "AWS::Events::Rule").values()]
    assert any(r.get("ScheduleExpression", "").startswith("cron(0 6") for r in rules)
    assert any("Glue Job State Change" in json.dumps(r.get("EventPattern", {})) for r in rules)


@pytest.mark.parametrize("env", ENVS)
def test_athena_workgroup_enforces_encryption_and_a_scan_cutoff(synthesized, env):
    (workgroup,) = resources(synthesized.templates[env], "AWS::Athena::WorkGroup").values()
    conf = workgroup["Properties"]["WorkGroupConfiguration"]
    assert conf["EnforceWorkGroupConfiguration"] is True
    assert (
        conf["BytesScannedCutoffPerQuery"] == config(synthesized, env).athena_bytes_scanned_cutoff
    )
    encryption = conf["ResultConfiguration"]["EncryptionConfiguration"]["EncryptionOption"]
    assert encryption == "SSE_KMS"


@pytest.mark.parametrize("env", ENVS)
def test_cdk_nag_reports_no_unsuppressed_finding(synthesized, env):
    from aws_cdk.assertions import Annotations, Match

    errors = Annotations.from_stack(synthesized.stacks[env]).find_error(
        "*", Match.string_like_regexp("AwsSolutions-.*")
    )
    assert errors == []
    warnings = Annotations.from_stack(synthesized.stacks[env]).find_warning(
        "*", Match.string_like_regexp("AwsSolutions-.*")
    )
    assert warnings == []


def test_every_suppression_has_a_written_reason():
    from infra.nag import SUPPRESSIONS

    for suppression in SUPPRESSIONS:
        assert len(suppression.reason) > 80, suppression.id


@pytest.mark.parametrize("env", ENVS)
def test_cfn_lint_finds_no_error(synthesized, env):
    from cfnlint.api import ManualArgs, lint

    path = next(Path(synthesized.outdir).glob(f"RetailEtl-{env}.template.json"))
    matches = lint(path.read_text(), config=ManualArgs(regions=["eu-west-1", "us-east-1"]))
    errors = [m for m in matches if m.rule.id.startswith("E")]
    assert errors == [], [str(m) for m in errors]


@pytest.mark.parametrize("env", ENVS)
def test_only_the_raw_bucket_rule_may_write_to_the_queues(synthesized, env):
    template = synthesized.templates[env]
    (rule_id,) = [
        k
        for k, r in resources(template, "AWS::Events::Rule").items()
        if r["Properties"].get("EventPattern", {}).get("detail-type") == ["Object Created"]
    ]
    for policy in resources(template, "AWS::SQS::QueuePolicy").values():
        for st in policy["Properties"]["PolicyDocument"]["Statement"]:
            if st["Effect"] == "Allow" and st["Principal"] == {"Service": "events.amazonaws.com"}:
                assert st["Condition"]["ArnEquals"]["aws:SourceArn"] == {
                    "Fn::GetAtt": [rule_id, "Arn"]
                }


@pytest.mark.parametrize("env", ENVS)
def test_the_eventbridge_target_has_a_dlq(synthesized, env):
    rules = resources(synthesized.templates[env], "AWS::Events::Rule").values()
    (rule,) = [
        r
        for r in rules
        if r["Properties"].get("EventPattern", {}).get("detail-type") == ["Object Created"]
    ]
    (target,) = rule["Properties"]["Targets"]
    assert "Arn" in target["DeadLetterConfig"]
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 8


def test_the_prod_ledger_is_protected_from_deletion(synthesized):
    for env, protected in (("prod", True), ("dev", not config(synthesized, "dev").destroy_data)):
        (ledger,) = resources(synthesized.templates[env], "AWS::DynamoDB::Table").values()
        assert ledger["Properties"].get("DeletionProtectionEnabled", False) is protected
