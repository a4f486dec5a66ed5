"""Per-environment configuration, read from `cdk.json` context in one place.

Every construct takes the parts of `EnvironmentConfig` it needs as explicit parameters; the
resource names come from `retail_etl.config.Settings`, which the local runtime uses too.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class EnvironmentConfig:
    name: str
    prefix: str
    scheduler: str = "eventbridge"  # "mwaa" or "eventbridge"
    warehouse: bool = False
    destroy_data_on_delete: bool = False  # only ever honoured outside prod
    # an existing bucket producers already write to, imported as the raw zone instead of
    # creating one: never modified or deleted by the stack beyond turning on its EventBridge
    # notifications (see docs/deploy.md); it should be versioned
    existing_raw_bucket: str = ""
    alert_email: str = ""
    schedule_utc: str = "cron(30 2 * * ? *)"  # daily run, UTC
    freshness_hour_utc: int = 6  # alarm when no events file arrived by this hour
    # make bench: a 1M-row file peaks at about 0.8 GB; 3008 MB also buys about 1.7 vCPUs,
    # which the read-ahead and upload threads use.
    ingest_memory_mb: int = 3008
    ingest_timeout_s: int = 900
    ingest_reserved_concurrency: int = 20
    ingest_max_receives: int = 5
    task_memory_mb: int = 3008
    map_concurrency: int = 4
    glue_threshold_bytes: int = 512 << 20
    glue_workers: int = 4
    glue_worker_type: str = "G.1X"
    redshift_base_rpu: int = 8
    raw_infrequent_access_days: int = 30
    raw_expire_days: int = 365
    quarantine_expire_days: int = 90
    # versioned buckets: how long a deleted or replaced object stays recoverable
    noncurrent_version_days: int = 30
    log_retention_days: int = 90
    athena_bytes_scanned_cutoff: int = 10 << 30
    airflow_version: str = "3.3.1"  # the version tests/dags run
    mwaa_environment_class: str = "mw1.small"
    vpc_cidr: str = "10.40.0.0/16"
    availability_zones: tuple[str, ...] = ("a", "b")  # suffixes of the deploy region

    @property
    def schedule_utc_cron(self) -> str:
        """The schedule as a five-field cron for Airflow, from EventBridge's six-field form."""
        fields = self.schedule_utc.removeprefix("cron(").removesuffix(")").split()
        minute, hour, day, month, weekday = (f.replace("?", "*") for f in fields[:5])
        return f"{minute} {hour} {day} {month} {weekday}"

    @property
    def is_prod(self) -> bool:
        return self.name == "prod"

    @property
    def destroy_data(self) -> bool:
        """Prod data is always retained, whatever the config says."""
        return self.destroy_data_on_delete and not self.is_prod

    @classmethod
    def from_context(cls, context: dict[str, Any], name: str) -> EnvironmentConfig:
        envs = context.get("environments", {})
        if name not in envs:
            raise KeyError(f"no environment {name!r} in cdk.json context; have {sorted(envs)}")
        values = {**context.get("defaults", {}), **envs[name], "name": name}
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown settings for {name}: {sorted(unknown)}")
        if values.get("scheduler", "eventbridge") not in ("mwaa", "eventbridge"):
            raise ValueError(f"{name}: scheduler must be mwaa or eventbridge")
        if "availability_zones" in values:
            values["availability_zones"] = tuple(values["availability_zones"])
        return cls(**values)


def environment_names(context: dict[str, Any]) -> list[str]:
    return sorted(context.get("environments", {}))
