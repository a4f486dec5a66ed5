"""Configuration, read in one place: resource names and tunables.

The CDK app, the Lambdas (through environment variables the stack sets) and the local runtime
all derive names from `Settings`, so the laptop and the cloud cannot drift apart.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass

ENV_PREFIX = "RETAIL_ETL_"


@dataclass(frozen=True)
class Settings:
    raw_bucket: str
    curated_bucket: str
    analytics_bucket: str
    ledger_table: str
    glue_database: str
    ingest_queue: str
    lease_seconds: int = 900
    block_bytes: int = 8 << 20
    # days with more curated bytes than this are aggregated by the Glue job, not a Lambda
    glue_threshold_bytes: int = 512 << 20
    # Redshift Serverless; an empty workgroup means the warehouse is off
    redshift_workgroup: str = ""
    redshift_database: str = "dev"
    copy_role_arn: str = ""

    @classmethod
    def for_prefix(cls, prefix: str, account: str = "000000000000", region: str = "eu-west-1"):
        """Names for one deployment; bucket names carry account and region to be unique."""
        suffix = f"{account}-{region}"
        return cls(
            raw_bucket=f"{prefix}-raw-{suffix}",
            curated_bucket=f"{prefix}-curated-{suffix}",
            analytics_bucket=f"{prefix}-analytics-{suffix}",
            ledger_table=f"{prefix}-ledger",
            glue_database=prefix.replace("-", "_"),
            ingest_queue=f"{prefix}-ingest",
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        """Settings from RETAIL_ETL_* variables (how the stack configures its Lambdas)."""
        values = {}
        for name, field in cls.__dataclass_fields__.items():
            raw = env.get(ENV_PREFIX + name.upper())
            if raw is None:
                if field.default is MISSING:
                    raise KeyError(f"missing environment variable {ENV_PREFIX}{name.upper()}")
                continue
            values[name] = int(raw) if field.type in ("int", int) else raw
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        return {ENV_PREFIX + k.upper(): str(v) for k, v in asdict(self).items()}
