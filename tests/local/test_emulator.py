"""The emulator: moto behind the two checks real AWS makes and moto does not."""

from __future__ import annotations

import os

import boto3
import pytest
from botocore.exceptions import ClientError

from retail_etl.local.emulator import emulated_aws


def test_a_glue_update_with_a_stale_version_is_refused_as_glue_refuses_it():
    with emulated_aws():
        glue = boto3.client("glue")
        glue.create_database(DatabaseInput={"Name": "db"})
        glue.create_table(DatabaseName="db", TableInput={"Name": "t"})
        read = glue.get_table(DatabaseName="db", Name="t")["Table"]["VersionId"]
        update = {"Name": "t", "Parameters": {"metadata_location": "s3://b/1.json"}}
        glue.update_table(DatabaseName="db", TableInput=update, VersionId=read)
        with pytest.raises(ClientError) as refused:  # a second writer that read the same version
            glue.update_table(DatabaseName="db", TableInput=update, VersionId=read)
        assert refused.value.response["Error"]["Code"] == "ConcurrentModificationException"
        current = glue.get_table(DatabaseName="db", Name="t")["Table"]["VersionId"]
        glue.update_table(DatabaseName="db", TableInput=update, VersionId=current)


def test_each_emulator_has_its_own_port_and_the_environment_comes_back_after():
    before = os.environ.get("AWS_ENDPOINT_URL")
    with emulated_aws() as first, emulated_aws() as second:
        assert first != second
        assert os.environ["AWS_ENDPOINT_URL"] == second
        assert os.environ["MOTO_PORT"] == second.rsplit(":", 1)[1]
    assert os.environ.get("AWS_ENDPOINT_URL") == before
