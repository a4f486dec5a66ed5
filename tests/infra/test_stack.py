"""The synthesized templates: security, wiring, the state machine, IAM, cdk-nag, cfn-lint,
checkov.

One module on purpose: `make test` spreads modules over two xdist workers, and each worker
builds its own session fixture, so a second module of template tests would synthesize the app
a second time.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import sysconfig
from importlib.metadata import packages_distributions, requires
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from infra.aggregation import MAX_POLLS
from infra.config import EnvironmentConfig
from infra.definition import resolve
from infra.log_groups import LAMBDA_FUNCTION
from retail_etl.local import workflow

ENVS = ("dev", "prod")
REPO = Path(__file__).resolve().parents[2]
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


# What the Lambda code asset may hold: the handlers, the application steps, the domain core and
# the adapters, with the SQL and the source profiles they read (no local runtime, emulator or
# operator code).
ASSET_FOLDERS = (
    "lambdas/",
    "retail_etl/domain/",
    "retail_etl/adapters/",
    "sql/redshift/",
    "sources/",
)
ASSET_MODULES = {
    "retail_etl/__init__.py",
    "retail_etl/config.py",
    "retail_etl/ingest.py",
    "retail_etl/daily.py",
    "retail_etl/memory.py",
}
# What the Lambda runtime and the managed layers bring (the project's layer is read from its asset)
MANAGED = ("boto3", "awswrangler", "aws-lambda-powertools")
IMPORT_HANDLERS = """
import importlib, json, sys
for handler in sys.argv[1:]:
    module, _, function = handler.rpartition(".")
    assert callable(getattr(importlib.import_module(module), function)), handler
from retail_etl.adapters.warehouse import ddl
assert ddl()  # the load's SQL, read from the asset and split by sqlglot (imported lazily)
print(json.dumps({
    "project": [getattr(m, "__file__", None) or "" for n, m in list(sys.modules.items())
                if n.split(".")[0] in ("retail_etl", "lambdas")],
    "top_level": sorted({n.split(".")[0] for n in sys.modules}),
}))
"""


def distributions_needed(*names: str) -> set[str]:
    """The distributions `names` need, without extras, by the installed metadata."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        for text in requires(name) or []:
            need = Requirement(text)
            if need.marker is None or need.marker.evaluate({"extra": ""}):
                todo.append(need.name)
    return seen


def test_the_code_asset_holds_the_handlers_steps_core_and_adapters_only(synthesized):
    template = synthesized.templates["prod"]
    ours = [
        f
        for t in synthesized.templates.values()
        for f in resources(t, "AWS::Lambda::Function").values()
        if f["Properties"]["Handler"].startswith("lambdas.")
    ]
    (code,) = {f["Metadata"]["aws:asset:path"] for f in ours}
    asset = synthesized.outdir / code
    files = sorted(p.relative_to(asset).as_posix() for p in asset.rglob("*") if p.is_file())
    stray = [f for f in files if not f.startswith(ASSET_FOLDERS) and f not in ASSET_MODULES]
    assert stray == [], stray
    assert set(files) >= ASSET_MODULES
    assert all(any(f.startswith(folder) for f in files) for folder in ASSET_FOLDERS)
    # every handler imports with only the asset for the project's code (`-S`: no site hook, so
    # no editable install of the repository) and the installed third-party packages
    handlers = sorted({f["Properties"]["Handler"] for f in ours})
    site = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    done = subprocess.run(
        [sys.executable, "-S", "-c", IMPORT_HANDLERS, *handlers],
        cwd=asset,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(asset), *site])},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout)
    assert all(Path(f).is_relative_to(asset) for f in loaded["project"]), loaded["project"]
    # ... and every third-party package they load is in the Lambda's environment
    stack = synthesized.stacks["prod"]
    iceberg = template["Resources"][stack.get_logical_id(stack.runtime.iceberg.node.default_child)]
    layer = synthesized.outdir / iceberg["Metadata"]["aws:asset:path"] / "python"
    available = distributions_needed(*MANAGED) | {
        canonicalize_name(p.name.split("-")[0]) for p in layer.glob("*.dist-info")
    }
    owners = packages_distributions()
    used = {
        canonicalize_name(d)
        for name in loaded["top_level"]
        for d in owners.get(name, [])
        if canonicalize_name(d) != "retail-etl"
    }
    assert {"pyiceberg", "aws-lambda-powertools", "pyarrow", "sqlglot"} <= used
    assert used - available == set()


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


def test_the_local_runs_state_machine_is_the_one_the_app_synthesizes(synthesized):
    """The local run interprets a committed copy of prod's resolved definition (the one with
    the load): it must be what the app synthesizes now, handlers read from the template."""
    synthesized_now = resolve(synthesized.templates["prod"])
    committed = workflow.load_definition()
    assert committed == synthesized_now, (
        f"{workflow.DEFINITION.relative_to(REPO)} is not the synthesized definition: "
        f"regenerate it with `.venv/bin/python -m infra.definition prod > "
        f"{workflow.DEFINITION.relative_to(REPO)}`"
    )
    stack = synthesized.stacks["prod"]
    plan = stack.get_logical_id(stack.aggregation.plan_fn.node.default_child)
    assert committed["handlers"][f"arn:aws:lambda:eu-west-1:123456789012:function:{plan}"] == (
        "lambdas.daily.handler.plan"
    )


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


@pytest.mark.parametrize("env", ENVS)
def test_nag_acknowledgments_sit_on_their_resources_and_name_what_they_cover(synthesized, env):
    template = synthesized.templates[env]
    assert "cdk_nag" not in template.get("Metadata", {})  # nothing stack-wide
    acknowledged = 0
    for name, resource in template["Resources"].items():
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []):
            acknowledged += 1
            assert not rule.get("is_reason_encoded"), (name, rule["id"])
            assert len(rule["reason"]) > 80, (name, rule["id"])
            if rule["id"] in ("AwsSolutions-IAM4", "AwsSolutions-IAM5"):
                assert rule.get("applies_to"), (name, rule["id"])  # never the whole rule
    assert acknowledged


def roles_actions_on_any_resource(template: dict) -> dict[str, set[str]]:
    """Role logical id -> the actions its inline policies allow on `*`."""
    found: dict[str, set[str]] = {}
    for policy in resources(template, "AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            targets = statement["Resource"]
            if "*" not in (targets if isinstance(targets, list) else [targets]):
                continue
            actions = statement["Action"]
            for role in policy["Properties"]["Roles"]:
                found.setdefault(role["Ref"], set()).update(
                    actions if isinstance(actions, list) else [actions]
                )
    return found


@pytest.mark.parametrize("env", ENVS)
def test_actions_on_every_resource_are_exactly_those_the_acknowledgments_name(synthesized, env):
    from infra import nag

    stack = synthesized.stacks[env]
    aggregation = stack.aggregation

    def role(construct) -> str:
        return stack.get_logical_id(construct.node.default_child)

    loaders = [getattr(aggregation, n, None) for n in ("submit_fn", "explain_fn")]
    expected = {
        role(fn.role): set(nag.XRAY) | (set(nag.REDSHIFT_STATEMENTS) if fn in loaders else set())
        for fn in (stack.ingestion.function, *aggregation.functions, stack.monitoring.freshness)
    }
    daily = set(nag.STATE_MACHINE_LOGGING) | set(nag.STATE_MACHINE_TRACING)
    if stack.config.warehouse:
        daily.add("redshift-data:DescribeStatement")
    expected[role(aggregation.state_machine.role)] = daily
    expected[role(aggregation.glue_role)] = set(nag.PUT_METRIC_DATA)
    if stack.config.scheduler == "mwaa":
        expected[role(stack.orchestration.role)] = set(nag.PUT_METRIC_DATA)  # no states:* on *
    if stack.network is not None:
        lookup = stack.network.s3_prefix_list.grant_principal
        expected[stack.get_logical_id(lookup.node.default_child)] = set(nag.DESCRIBE_PREFIX_LISTS)
    assert roles_actions_on_any_resource(synthesized.templates[env]) == expected


@pytest.mark.parametrize("env", ENVS)
def test_the_glue_role_is_scoped_without_the_glue_service_managed_policy(synthesized, env):
    stack = synthesized.stacks[env]
    template = synthesized.templates[env]
    role_id = stack.get_logical_id(stack.aggregation.glue_role.node.default_child)
    assert "ManagedPolicyArns" not in template["Resources"][role_id]["Properties"]
    statements = [
        s
        for p in resources(template, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    actions = {a for s in statements for a in (s["Action"] if isinstance(s["Action"], list)
                                                 else [s["Action"]])}  # fmt: skip
    assert not [a for a in actions if a.startswith(("glue:", "iam:", "ec2:"))]
    (metrics,) = [s for s in statements if s.get("Sid") == "GlueJobMetrics"]
    assert metrics["Condition"] == {"StringEquals": {"cloudwatch:namespace": "Glue"}}
    (logs,) = [s for s in statements if s.get("Sid") == "GlueJobLogs"]
    assert json.dumps(logs["Resource"]).endswith(':log-group:/aws-glue/*"]]}')
    # analytics: its manifests and its output prefix only, not the aggregate tables
    analytics = stack.get_logical_id(stack.storage.analytics.node.default_child)
    object_grants = [
        json.dumps(r)
        for s in statements
        for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
        if analytics in json.dumps(r) and "/" in json.dumps(r)
    ]
    assert object_grants
    assert all("/_manifests/glue/*" in g or "/_glue_output/*" in g for g in object_grants)


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


# Issue 12: log groups, versioning, the Glue role, the acknowledgments, the warehouse network,
# checkov.

RETENTION_DAYS = {
    "ONE_DAY": 1, "THREE_DAYS": 3, "FIVE_DAYS": 5, "ONE_WEEK": 7, "TWO_WEEKS": 14,
    "ONE_MONTH": 30, "TWO_MONTHS": 60, "THREE_MONTHS": 90, "FOUR_MONTHS": 120,
    "FIVE_MONTHS": 150, "SIX_MONTHS": 180, "ONE_YEAR": 365, "THIRTEEN_MONTHS": 400,
    "EIGHTEEN_MONTHS": 545, "TWO_YEARS": 731, "FIVE_YEARS": 1827, "TEN_YEARS": 3653,
}  # fmt: skip


def data_key(synthesized, env: str) -> str:
    stack = synthesized.stacks[env]
    return stack.get_logical_id(stack.storage.key.node.default_child)


def logical_id(synthesized, env: str, construct) -> str:
    return synthesized.stacks[env].get_logical_id(construct.node.default_child)


@pytest.mark.parametrize("env", ENVS)
def test_every_lambda_logs_to_its_own_log_group_with_retention_and_the_data_key(synthesized, env):
    template = synthesized.templates[env]
    functions = resources(template, LAMBDA_FUNCTION)
    # ours, and CDK's own handlers (bucket notifications, auto-delete, default SG, DAG upload)
    assert len(functions) >= 8
    expected_days = min(d for d in RETENTION_DAYS.values() if d >= config(synthesized, env)
                        .log_retention_days)  # fmt: skip
    groups = []
    for name, fn in functions.items():
        group_ref = fn["Properties"]["LoggingConfig"]["LogGroup"]
        (group_id,) = group_ref.values()
        group = template["Resources"][group_id]
        assert group["Type"] == "AWS::Logs::LogGroup", name
        assert group["Properties"]["RetentionInDays"] == expected_days, name
        key = {"Fn::GetAtt": [data_key(synthesized, env), "Arn"]}
        assert group["Properties"]["KmsKeyId"] == key, name
        groups.append(group_id)
    assert len(set(groups)) == len(groups)  # one log group per function


@pytest.mark.parametrize("env", ENVS)
def test_the_data_key_lets_cloudwatch_logs_encrypt_only_this_accounts_log_groups(synthesized, env):
    (key,) = resources(synthesized.templates[env], "AWS::KMS::Key").values()
    (statement,) = [
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if "logs." in json.dumps(s.get("Principal", {}))
    ]
    assert "kms:GenerateDataKey*" in statement["Action"]
    arn = json.dumps(statement["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"])
    assert "AWS::AccountId" in arn and ":log-group:*" in arn


@pytest.mark.parametrize("env", ENVS)
def test_eventbridge_may_use_the_data_key_only_for_the_raw_bucket_rule(synthesized, env):
    (key,) = resources(synthesized.templates[env], "AWS::KMS::Key").values()
    statements = [
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s.get("Principal") == {"Service": "events.amazonaws.com"}
    ]
    assert len(statements) == 2  # the queue and the DLQ of the rule's target
    rule_name = synthesized.stacks[env].settings.ingest_queue + "-raw-object-created"
    for statement in statements:
        account = {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
        assert statement["Condition"]["StringEquals"] == account
        arn = json.dumps(statement["Condition"]["ArnEquals"]["aws:SourceArn"])
        assert "AWS::AccountId" in arn and f":rule/{rule_name}" in arn


@pytest.mark.parametrize("env", ENVS)
def test_our_functions_environments_are_encrypted_with_the_data_key(synthesized, env):
    functions = resources(synthesized.templates[env], LAMBDA_FUNCTION)
    ours = {k: f for k, f in functions.items() if f["Properties"]["Handler"].startswith("lambdas.")}
    assert len(ours) >= 7
    for name, fn in ours.items():
        assert fn["Properties"]["KmsKeyArn"] == {
            "Fn::GetAtt": [data_key(synthesized, env), "Arn"]
        }, name


@pytest.mark.parametrize("env", ENVS)
def test_every_bucket_is_versioned_and_deleted_versions_expire(synthesized, env):
    cfg = config(synthesized, env)
    buckets = resources(synthesized.templates[env], "AWS::S3::Bucket")
    assert len(buckets) >= 5
    for name, bucket in buckets.items():
        props = bucket["Properties"]
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}, name
        (rule,) = [
            r
            for r in props["LifecycleConfiguration"]["Rules"]
            if r.get("Id") == "noncurrent-versions-expire"
        ]
        assert rule["NoncurrentVersionExpiration"] == {
            "NoncurrentDays": cfg.noncurrent_version_days
        }, name
        assert rule["ExpiredObjectDeleteMarker"] is True, name


def test_curated_versioning_is_the_documented_decision(synthesized):
    """Curated is versioned: snapshots undo bad commits, versions undo deleted files."""
    import infra.storage

    stack = synthesized.stacks["prod"]
    curated = synthesized.templates["prod"]["Resources"][
        logical_id(synthesized, "prod", stack.storage.curated)
    ]
    assert curated["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}
    assert "versioning is ON" in infra.storage.__doc__
    runbook = (REPO / "docs" / "runbook.md").read_text()
    assert "The curated bucket is versioned" in runbook


CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"


@pytest.fixture(scope="module")
def checkov_report(synthesized) -> list[dict]:
    """checkov (pinned in requirements-checkov.txt, `make test` installs it) over this session's
    templates: no second synthesis."""
    binary = Path(os.environ.get("CHECKOV", CHECKOV))
    if not binary.is_file():
        pytest.fail(f"checkov is not installed at {binary}: run `make .venv-checkov/.installed`")
    templates = sorted(Path(synthesized.outdir).glob("RetailEtl-*.template.json"))
    assert len(templates) == len(ENVS)
    files = [arg for t in templates for arg in ("-f", str(t))]
    run = subprocess.run(
        [str(binary), "--framework", "cloudformation", "--skip-download", "--compact",
         "--output", "json", *files],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode in (0, 1), run.stderr[-2000:]
    report = json.loads(run.stdout)
    return report if isinstance(report, list) else [report]


def test_checkov_reports_no_finding_that_is_not_acknowledged_on_its_resource(checkov_report):
    (cloudformation,) = [r for r in checkov_report if r["check_type"] == "cloudformation"]
    assert cloudformation["summary"]["parsing_errors"] == 0
    assert cloudformation["summary"]["passed"] > 500  # it did check the templates
    failed = [
        (f["file_path"], f["resource"], f["check_id"], f["check_name"])
        for f in cloudformation["results"]["failed_checks"]
    ]
    assert failed == []


def test_every_checkov_acknowledgment_says_why(checkov_report):
    (cloudformation,) = [r for r in checkov_report if r["check_type"] == "cloudformation"]
    skipped = cloudformation["results"]["skipped_checks"]
    assert skipped  # the acknowledgments in infra/checkov.py are read
    for check in skipped:
        assert len(check["check_result"].get("suppress_comment", "")) > 80, (
            check["resource"],
            check["check_id"],
        )
    # accepted findings only of these kinds (a new kind needs its own reason in infra/checkov.py)
    assert {c["check_id"] for c in skipped} <= {
        "CKV_AWS_115",
        "CKV_AWS_116",
        "CKV_AWS_117",
        "CKV_AWS_173",
        "CKV_AWS_18",
    }


def test_the_warehouse_has_three_isolated_subnets_routed_only_to_the_s3_endpoint(synthesized):
    template = synthesized.templates["prod"]
    (workgroup,) = resources(template, "AWS::RedshiftServerless::Workgroup").values()
    subnets = [s["Ref"] for s in workgroup["Properties"]["SubnetIds"]]
    # Redshift Serverless needs subnets in at least three availability zones
    zones = {json.dumps(template["Resources"][s]["Properties"]["AvailabilityZone"])
             for s in subnets}  # fmt: skip
    assert len(subnets) >= 3 and len(zones) == len(subnets)
    tables = {
        a["Properties"]["SubnetId"]["Ref"]: a["Properties"]["RouteTableId"]["Ref"]
        for a in resources(template, "AWS::EC2::SubnetRouteTableAssociation").values()
    }
    warehouse_tables = {tables[s] for s in subnets}
    routes = [r["Properties"] for r in resources(template, "AWS::EC2::Route").values()]
    assert not [r for r in routes if r["RouteTableId"]["Ref"] in warehouse_tables]  # no NAT, IGW
    assert [r for r in routes if "NatGatewayId" in r]  # MWAA's own subnets keep their NAT
    (endpoint,) = resources(template, "AWS::EC2::VPCEndpoint").values()
    assert endpoint["Properties"]["VpcEndpointType"] == "Gateway"
    assert warehouse_tables <= {t["Ref"] for t in endpoint["Properties"]["RouteTableIds"]}


def test_the_warehouse_may_send_only_https_to_the_s3_prefix_list(synthesized):
    stack = synthesized.stacks["prod"]
    template = synthesized.templates["prod"]
    group = stack.get_logical_id(stack.warehouse.security_group.node.default_child)
    lookup = stack.get_logical_id(stack.network.s3_prefix_list.node.find_child("Resource")
                                  .node.default_child)  # fmt: skip
    props = template["Resources"][group]["Properties"]
    assert props["SecurityGroupEgress"] == [
        {
            "IpProtocol": "tcp",
            "FromPort": 443,
            "ToPort": 443,
            "DestinationPrefixListId": {"Fn::GetAtt": [lookup, "PrefixLists.0.PrefixListId"]},
            "Description": "S3 through the gateway endpoint, for COPY",
        }
    ]
    assert "SecurityGroupIngress" not in props
    for kind in ("AWS::EC2::SecurityGroupEgress", "AWS::EC2::SecurityGroupIngress"):
        assert not [
            r for r in resources(template, kind).values()
            if r["Properties"]["GroupId"] == {"Fn::GetAtt": [group, "GroupId"]}
        ]  # fmt: skip
    (lookup_call,) = resources(template, "Custom::AWS").values()
    assert "prefix-list-name" in json.dumps(lookup_call["Properties"]["Create"])


def test_the_s3_endpoint_lets_through_reads_of_the_project_buckets_only(synthesized):
    stack = synthesized.stacks["prod"]
    template = synthesized.templates["prod"]
    (endpoint,) = resources(template, "AWS::EC2::VPCEndpoint").values()
    statements = endpoint["Properties"]["PolicyDocument"]["Statement"]
    ours = {
        stack.get_logical_id(b.node.default_child)
        for b in (stack.storage.curated, stack.storage.analytics, stack.orchestration.dag_bucket)
    }
    named = set()
    for statement in statements:
        assert statement["Effect"] == "Allow"
        actions = statement["Action"] if isinstance(statement["Action"], list) else [
            statement["Action"]]  # fmt: skip
        assert all(a in ("s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket",
                         "s3:GetBucketLocation") for a in actions)  # fmt: skip
        targets = statement["Resource"]
        for target in targets if isinstance(targets, list) else [targets]:
            text = json.dumps(target)
            assert target != "*" and "*" not in text.replace("/*", "")
            refs = {i for i in ours if i in text}
            assert refs or "-starport-layer-bucket/*" in text, text  # ECR layers for MWAA
            named |= refs
    assert named == ours  # the raw bucket, Athena results and access logs are not reachable


def test_an_existing_raw_bucket_is_imported_not_created(imported_raw_storage):
    """cdk.json `existing_raw_bucket`: no raw bucket resource (so `cdk destroy` cannot touch
    it), its EventBridge notifications turned on, the other zones created as usual."""
    from tests.infra.conftest import EXISTING_RAW_BUCKET

    buckets = resources(imported_raw_storage, "AWS::S3::Bucket")
    names = [b["Properties"].get("BucketName") for b in buckets.values()]
    assert EXISTING_RAW_BUCKET not in json.dumps(names)
    assert len(buckets) == 4  # access logs, curated, analytics, Athena results
    [notifications] = resources(imported_raw_storage, "Custom::S3BucketNotifications").values()
    props = notifications["Properties"]
    assert props["BucketName"] == EXISTING_RAW_BUCKET and props["Managed"] is False
    assert props["NotificationConfiguration"] == {"EventBridgeConfiguration": {}}


def test_the_imported_bucket_names_the_lambdas_and_the_cli_raw_bucket(tmp_path):
    from infra.stack import settings_for
    from retail_etl.config import Settings

    context = {"environments": {"dev": {"prefix": "p", "existing_raw_bucket": "landing"}}}
    assert settings_for(EnvironmentConfig.from_context(context, "dev")).raw_bucket == "landing"
    cdk_json = tmp_path / "cdk.json"
    cdk_json.write_text(json.dumps({"context": {"retail-etl": context}}))
    assert Settings.for_environment("dev", cdk_json=cdk_json).raw_bucket == "landing"
