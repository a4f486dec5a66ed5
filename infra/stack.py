"""One stack per environment, composing the constructs in dependency order."""

from __future__ import annotations

from dataclasses import replace

from aws_cdk import Aws, CfnOutput, Stack
from constructs import Construct

from infra.aggregation import Aggregation
from infra.checkov import acknowledge_findings as acknowledge_checkov_findings
from infra.config import EnvironmentConfig
from infra.ingestion import Ingestion
from infra.log_groups import give_every_function_a_log_group
from infra.monitoring import AlertTopic, Monitoring
from infra.nag import suppress_findings
from infra.orchestration import Airflow, EventBridgeSchedule
from infra.runtime import LambdaRuntime
from infra.storage import Storage
from infra.warehouse import Network, Warehouse
from retail_etl.config import Settings


def settings_for(config: EnvironmentConfig) -> Settings:
    """The names both this stack and the local runtime use (account and region resolved at
    deploy time, so the template stays environment-agnostic)."""
    base = Settings.for_prefix(config.prefix, Aws.ACCOUNT_ID, Aws.REGION)
    if config.existing_raw_bucket:
        base = replace(base, raw_bucket=config.existing_raw_bucket)
    return replace(base, glue_threshold_bytes=config.glue_threshold_bytes)


class RetailEtlStack(Stack):
    def __init__(self, scope: Construct, id: str, *, config: EnvironmentConfig, **kwargs) -> None:
        super().__init__(scope, id, description=f"retail-etl pipeline ({config.name})", **kwargs)
        self.config = config
        network_needed = config.warehouse or config.scheduler == "mwaa"
        warehouse_name = f"{config.prefix}-warehouse"
        settings = settings_for(config)
        if config.warehouse:
            settings = replace(settings, redshift_workgroup=warehouse_name)
        self.settings = settings

        self.storage = Storage(
            self,
            "Storage",
            settings=settings,
            destroy_data=config.destroy_data,
            raw_infrequent_access_days=config.raw_infrequent_access_days,
            raw_expire_days=config.raw_expire_days,
            quarantine_expire_days=config.quarantine_expire_days,
            noncurrent_version_days=config.noncurrent_version_days,
            existing_raw_bucket=config.existing_raw_bucket,
        )
        key = self.storage.key
        self.alerts = AlertTopic(self, "Alerting", key=key, email=config.alert_email)
        self.runtime = LambdaRuntime(self, "LambdaRuntime")
        self.network = (
            Network(
                self,
                "Network",
                cidr=config.vpc_cidr,
                needs_egress=config.scheduler == "mwaa",
                key=key,
                log_retention_days=config.log_retention_days,
                destroy_data=config.destroy_data,
            )
            if network_needed
            else None
        )
        self.warehouse = None
        if config.warehouse:
            self.warehouse = Warehouse(
                self,
                "Warehouse",
                name=warehouse_name,
                network=self.network,
                key=key,
                curated=self.storage.curated,
                analytics=self.storage.analytics,
                base_rpu=config.redshift_base_rpu,
            )
            settings = replace(settings, copy_role_arn=self.warehouse.copy_role.role_arn)
        self.ingestion = Ingestion(
            self,
            "Ingestion",
            settings=settings,
            runtime=self.runtime,
            key=key,
            raw=self.storage.raw,
            curated=self.storage.curated,
            analytics=self.storage.analytics,
            athena_results=self.storage.athena_results,
            destroy_data=config.destroy_data,
            memory_mb=config.ingest_memory_mb,
            timeout_s=config.ingest_timeout_s,
            reserved_concurrency=config.ingest_reserved_concurrency,
            max_receives=config.ingest_max_receives,
            log_retention_days=config.log_retention_days,
            athena_bytes_scanned_cutoff=config.athena_bytes_scanned_cutoff,
        )
        self.aggregation = Aggregation(
            self,
            "Aggregation",
            settings=settings,
            runtime=self.runtime,
            key=key,
            curated=self.storage.curated,
            analytics=self.storage.analytics,
            ledger=self.ingestion.ledger,
            alerts=self.alerts.topic,
            warehouse_on=config.warehouse,
            redshift_workgroup_arn=self.warehouse.workgroup_arn if self.warehouse else None,
            task_memory_mb=config.task_memory_mb,
            map_concurrency=config.map_concurrency,
            glue_threshold_bytes=config.glue_threshold_bytes,
            glue_workers=config.glue_workers,
            glue_worker_type=config.glue_worker_type,
            log_retention_days=config.log_retention_days,
            destroy_data=config.destroy_data,
        )
        state_machine = self.aggregation.state_machine
        if config.scheduler == "mwaa":
            self.orchestration = Airflow(
                self,
                "Airflow",
                name=f"{config.prefix}-airflow",
                network=self.network,
                key=key,
                state_machine=state_machine,
                alert_topic=self.alerts.topic,
                schedule=config.schedule_utc_cron,
                access_logs=self.storage.access_logs,
                airflow_version=config.airflow_version,
                environment_class=config.mwaa_environment_class,
                destroy_data=config.destroy_data,
                log_retention_days=config.log_retention_days,
                noncurrent_version_days=config.noncurrent_version_days,
            )
        else:
            self.orchestration = EventBridgeSchedule(
                self, "Schedule", state_machine=state_machine, cron=config.schedule_utc
            )
        if self.network is not None:
            self._limit_s3_endpoint(config)
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            name=config.prefix,
            topic=self.alerts.topic,
            runtime=self.runtime,
            raw=self.storage.raw,
            dlq=self.ingestion.dlq,
            functions=[self.ingestion.function, *self.aggregation.functions],
            state_machine=state_machine,
            glue_job_name=self.aggregation.glue_job.job_name,
            freshness_hour_utc=config.freshness_hour_utc,
            key=key,
            log_retention_days=config.log_retention_days,
            destroy_data=config.destroy_data,
        )
        # CDK's own handlers (bucket notifications, auto-delete, default-SG restriction) too
        give_every_function_a_log_group(
            self,
            key=key,
            retention_days=config.log_retention_days,
            destroy_data=config.destroy_data,
        )
        CfnOutput(self, "RawBucket", value=self.storage.raw.bucket_name)
        CfnOutput(self, "StateMachineArn", value=state_machine.state_machine_arn)
        CfnOutput(self, "LedgerTable", value=self.ingestion.ledger.table_name)
        suppress_findings(self)
        acknowledge_checkov_findings(self)

    def _limit_s3_endpoint(self, config: EnvironmentConfig) -> None:
        """What reads S3 from inside the VPC: Redshift's COPY (curated data files, analytics
        manifests and aggregates) and MWAA (its DAG bucket; its workers' container image
        layers, which ECR serves from the AWS-owned prod-<region>-starport-layer-bucket)."""
        buckets, aws_owned = [], []
        if config.warehouse:
            buckets += [self.storage.curated, self.storage.analytics]
        if config.scheduler == "mwaa":
            buckets.append(self.orchestration.dag_bucket)
            aws_owned.append(f"arn:{Aws.PARTITION}:s3:::prod-{Aws.REGION}-starport-layer-bucket/*")
        self.network.allow_through_s3_endpoint(buckets, aws_owned)
