"""Storage: one KMS key, the raw, curated, analytics and Athena-results buckets, access logs.

Every bucket is KMS-encrypted, TLS-only, blocks public access and logs access to the log
bucket; raw is versioned (a file version is the unit of exactly-once) and sends EventBridge
notifications. Lifecycle rules move raw files to cheaper storage and expire them and the
quarantine after the configured days.

The curated bucket is deliberately not versioned: curated data is moving to Apache Iceberg
tables (issue 11), whose snapshots are the recovery path (time travel, rollback to a snapshot),
and every curated object can be rebuilt from the versioned raw bucket and the ledger. S3
versioning on top would keep every rewritten data and metadata file a second time.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from retail_etl.config import Settings


class Storage(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        settings: Settings,
        destroy_data: bool,
        raw_infrequent_access_days: int,
        raw_expire_days: int,
        quarantine_expire_days: int,
        existing_raw_bucket: str = "",
    ) -> None:
        super().__init__(scope, id)
        removal = RemovalPolicy.DESTROY if destroy_data else RemovalPolicy.RETAIN
        self.key = kms.Key(
            self,
            "DataKey",
            description="retail-etl data at rest: buckets, ledger, queues, logs",
            enable_key_rotation=True,
            removal_policy=removal,
        )
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,  # S3 log delivery cannot use KMS keys
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(365))],
            removal_policy=removal,
            auto_delete_objects=destroy_data,
        )

        def bucket(name: str, physical: str, **kwargs) -> s3.Bucket:
            return s3.Bucket(
                self,
                name,
                bucket_name=physical,
                encryption=s3.BucketEncryption.KMS,
                encryption_key=self.key,
                bucket_key_enabled=True,
                block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
                enforce_ssl=True,
                server_access_logs_bucket=self.access_logs,
                server_access_logs_prefix=f"{name.lower()}/",
                removal_policy=removal,
                auto_delete_objects=destroy_data,
                **kwargs,
            )

        # cdk.json `existing_raw_bucket`: import that bucket instead of creating this one
        raw_bucket = self._importer(existing_raw_bucket) if existing_raw_bucket else bucket
        self.raw: s3.IBucket = raw_bucket(
            "Raw",
            settings.raw_bucket,
            versioned=True,
            event_bridge_enabled=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="raw-to-infrequent-access-then-expire",
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                            transition_after=Duration.days(raw_infrequent_access_days),
                        )
                    ],
                    expiration=Duration.days(raw_expire_days),
                    noncurrent_version_expiration=Duration.days(raw_infrequent_access_days),
                )
            ],
        )
        self.curated = bucket(
            "Curated",
            settings.curated_bucket,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="quarantine-expires",
                    prefix="quarantine/",
                    expiration=Duration.days(quarantine_expire_days),
                ),
                s3.LifecycleRule(
                    id="staging-leftovers-expire", prefix="_staging/", expiration=Duration.days(7)
                ),
            ],
        )
        self.analytics = bucket("Analytics", settings.analytics_bucket)
        self.athena_results = bucket(
            "AthenaResults",
            None,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(30))],
        )

    def _importer(self, name: str):
        """Stands in for `bucket(...)`: the existing bucket, imported by name. The stack
        manages none of its settings (encryption, versioning, lifecycle and retention stay
        the owner's, and `cdk destroy` leaves it alone); it only turns on the EventBridge
        notifications ingestion listens to, through CDK's notifications custom resource,
        which keeps the bucket's other notification settings."""

        def imported(construct_id: str, physical: str, **_settings_it_keeps) -> s3.IBucket:
            raw = s3.Bucket.from_bucket_name(self, construct_id, name)
            raw.enable_event_bridge_notification()
            return raw

        return imported
