"""Storage: one KMS key, the raw, curated, analytics and Athena-results buckets, access logs.

Every bucket is KMS-encrypted (the access-log bucket S3-managed: log delivery cannot use a KMS
key), TLS-only, blocks public access, logs access to the log bucket and is versioned. Raw sends
EventBridge notifications; a raw file version is the unit of exactly-once. Lifecycle rules move
raw files to cheaper storage and expire them and the quarantine after the configured days.

Curated (and analytics) versioning, the decision: versioning is ON, with noncurrent versions
expiring after `noncurrent_version_days` (30 by default). The two recovery paths cover
different accidents:

* a bad commit (a wrong products file refreshed into the dates, a bad replay): Iceberg
  snapshots, time travel and `rollback_to_snapshot` (docs/runbook.md). S3 versioning does not
  help here: Iceberg never overwrites an object, every commit writes new files.
* a deleted object (an operator's `aws s3 rm`, a too-eager `VACUUM`/`remove_orphan_files`, a
  bug deleting under `data/` or `metadata/`): the snapshots still name the file, and only S3
  versioning brings it back; rebuilding from raw is possible only while raw keeps the files
  (`raw_expire_days`).

The cost is low because Iceberg writes every data and metadata file under a new key: a
noncurrent version exists only for a file that was deleted (expired snapshots, orphans, the
quarantine and `_staging/` expiries), and only for `noncurrent_version_days`.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.log_groups import allow_cloudwatch_logs
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
        noncurrent_version_days: int,
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
        allow_cloudwatch_logs(self.key)  # every log group of the stack is encrypted with it
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,  # S3 log delivery cannot use KMS keys
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(id="access-logs-expire", expiration=Duration.days(365)),
                *deleted_versions_expire(noncurrent_version_days),
            ],
            removal_policy=removal,
            auto_delete_objects=destroy_data,
        )

        deleted_versions = deleted_versions_expire(noncurrent_version_days)

        def bucket(name: str, physical: str, lifecycle_rules=(), **kwargs) -> s3.Bucket:
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
                versioned=True,
                lifecycle_rules=[*lifecycle_rules, *deleted_versions],
                **kwargs,
            )

        # cdk.json `existing_raw_bucket`: import that bucket instead of creating this one
        raw_bucket = self._importer(existing_raw_bucket) if existing_raw_bucket else bucket
        self.raw: s3.IBucket = raw_bucket(
            "Raw",
            settings.raw_bucket,
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
            lifecycle_rules=[s3.LifecycleRule(id="results-expire", expiration=Duration.days(30))],
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


def deleted_versions_expire(days: int) -> list[s3.LifecycleRule]:
    """A deleted or replaced object stays recoverable for `days`, then goes; the delete
    markers left behind once their versions are gone are removed too."""
    return [
        s3.LifecycleRule(
            id="noncurrent-versions-expire",
            noncurrent_version_expiration=Duration.days(days),
            expired_object_delete_marker=True,
            abort_incomplete_multipart_upload_after=Duration.days(7),
        )
    ]
