"""Configuration, read in one place: resource names and tunables.

The CDK app, the Lambdas (through environment variables the stack sets) and the local runtime
all derive names from `Settings`, so the laptop and the cloud cannot drift apart.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, replace
from pathlib import Path

ENV_PREFIX = "RETAIL_ETL_"
CDK_JSON = Path(__file__).resolve().parents[1] / "cdk.json"
CONTEXT_KEY = "retail-etl"
LOCAL_ENVIRONMENT = "dev"


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
    # an events file's rows of one table and date gather into data files of about this many
    # (Arrow) bytes: few large files per input file, memory bounded (ingest.py `_Parts`)
    part_bytes: int = 32 << 20
    # hostile-input bounds (domain/reading.py ReadLimits): longest line, deepest JSON nesting,
    # largest gzip inflation ratio
    max_line_bytes: int = 16 << 20
    max_json_depth: int = 64
    max_inflation: int = 200
    # days with more curated bytes than this are aggregated by the Glue job, not a Lambda
    glue_threshold_bytes: int = 512 << 20
    # Redshift Serverless; an empty workgroup means the warehouse is off
    redshift_workgroup: str = ""
    redshift_database: str = "dev"
    copy_role_arn: str = ""
    # source profiles (docs/sources.md): their folder ("" = the repository's / asset's
    # `sources/`), and the SSM SecureString holding the salt that hashes user ids
    sources_dir: str = ""
    hash_salt_parameter: str = ""

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
            hash_salt_parameter=f"/{prefix}/user-id-salt",
        )

    @classmethod
    def for_environment(
        cls,
        name: str = LOCAL_ENVIRONMENT,
        account: str = "000000000000",
        region: str = "eu-west-1",
        cdk_json: Path = CDK_JSON,
    ) -> Settings:
        """The names and thresholds the CDK app gives environment `name` in cdk.json, so the
        local runtime and the CLI against a deployed stack use the stack's own names."""
        context = json.loads(cdk_json.read_text())["context"][CONTEXT_KEY]
        environments = context.get("environments", {})
        if name not in environments:
            raise KeyError(
                f"no environment {name!r} in {cdk_json.name}; have {sorted(environments)}"
            )
        values = {**context.get("defaults", {}), **environments[name]}
        settings = cls.for_prefix(values["prefix"], account, region)
        if values.get("existing_raw_bucket"):  # the stack imports it instead of creating one
            settings = replace(settings, raw_bucket=values["existing_raw_bucket"])
        if "glue_threshold_bytes" in values:
            settings = replace(settings, glue_threshold_bytes=int(values["glue_threshold_bytes"]))
        return settings

    @property
    def read_limits(self):
        """The reader's bounds (imported here so the CDK app never loads pyarrow)."""
        from retail_etl.domain.reading import ReadLimits

        return ReadLimits(self.max_line_bytes, self.max_json_depth, self.max_inflation)

    @property
    def source_buckets(self) -> frozenset[str]:
        """The buckets ingest accepts objects from: the raw bucket, and the project's own
        buckets for replays. An event naming any other bucket is forged or misrouted."""
        return frozenset((self.raw_bucket, self.curated_bucket, self.analytics_bucket))

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.ingest_queue}-dlq"

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
