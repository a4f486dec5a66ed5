"""What every Lambda of the app shares: the code asset, the managed layers, the environment.

The code asset is the handlers (`lambdas/`), the steps (`retail_etl/ingest.py`, `daily.py`,
`config.py`, `memory.py`), the domain core and the adapters, with `sql/redshift/` and
`sources/` (the source profiles, validated here so an invalid one fails `cdk synth`) only (no Docker
bundling: pandas, pyarrow, awswrangler and Powertools come from AWS's managed layers,
resolved per region at deploy time through their public SSM parameters; PyIceberg, PyYAML and
sqlglot come from the project's own layer, built by `infra/layer.py`).
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import IgnoreMode, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from infra import layer
from retail_etl.adapters.sources import load_profiles

REPO = Path(__file__).resolve().parents[1]
AWS_SDK_PANDAS_VERSION = "3.17.1"  # the awswrangler version pinned in requirements.txt
PANDAS_LAYER_PARAMETER = (
    f"/aws/service/aws-sdk-pandas/{AWS_SDK_PANDAS_VERSION}/py3.13/x86_64/layer-arn"
)
POWERTOOLS_VERSION = "3.37.0"  # aws-lambda-powertools pinned in requirements.txt
POWERTOOLS_LAYER_PARAMETER = (
    f"/aws/service/powertools/python/x86_64/python3.13/{POWERTOOLS_VERSION}"
)
RUNTIME = lambda_.Runtime.PYTHON_3_13
# What the Lambdas run and nothing else: the handlers, the application steps, the domain core
# and the adapters, with the Redshift SQL and the source profiles they read. An allowlist (in
# .gitignore syntax), so the local runtime, the emulator and operator code (retail_etl/local,
# cli, operations, report, generator) stay out, and so does any package added later.
ASSET_EXCLUDE = [
    "/*",
    "!/lambdas",
    "!/sources",
    "!/sql",
    "/sql/*",
    "!/sql/redshift",
    "!/retail_etl",
    "/retail_etl/*",
    "!/retail_etl/__init__.py",
    "!/retail_etl/config.py",
    "!/retail_etl/ingest.py",
    "!/retail_etl/daily.py",
    "!/retail_etl/memory.py",
    "!/retail_etl/domain",
    "!/retail_etl/adapters",
    "__pycache__",
    "*.pyc",
]


class LambdaRuntime(Construct):
    def __init__(self, scope: Construct, id: str) -> None:
        super().__init__(scope, id)
        # raises ProfileError (naming the file and the key) on an invalid profile
        self.profiles = load_profiles(REPO / "sources")
        self.code = lambda_.Code.from_asset(
            str(REPO), exclude=ASSET_EXCLUDE, ignore_mode=IgnoreMode.GIT
        )
        self.iceberg = lambda_.LayerVersion(
            self,
            "Iceberg",
            code=lambda_.Code.from_asset(str(layer.build())),
            compatible_runtimes=[RUNTIME],
            description="PyIceberg and its dependencies (infra/layer.py)",
        )
        self.layers = [
            self.iceberg,
            lambda_.LayerVersion.from_layer_version_arn(
                self,
                "AwsSdkPandas",
                ssm.StringParameter.value_for_string_parameter(self, PANDAS_LAYER_PARAMETER),
            ),
            lambda_.LayerVersion.from_layer_version_arn(
                self,
                "Powertools",
                ssm.StringParameter.value_for_string_parameter(self, POWERTOOLS_LAYER_PARAMETER),
            ),
        ]

    def grant_catalog(self, function: lambda_.IFunction, database: str) -> None:
        """What PyIceberg's Glue catalog needs to read, create and commit the tables of one
        database: no other database or table is reachable."""
        stack = Stack.of(function)
        arn = f"arn:{stack.partition}:glue:{stack.region}:{stack.account}"
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=[
                    "glue:GetDatabase",
                    "glue:GetTable",
                    "glue:GetTables",
                    "glue:CreateTable",
                    "glue:UpdateTable",
                ],
                resources=[
                    f"{arn}:catalog",
                    f"{arn}:database/{database}",
                    f"{arn}:table/{database}/*",
                ],
            )
        )
