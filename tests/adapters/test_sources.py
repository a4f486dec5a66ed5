"""Loading profiles from a folder, and the salt from the environment or SSM (moto)."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from retail_etl.adapters.sources import DEFAULT_SOURCES, load_profiles, salt_source
from retail_etl.domain.profile import ProfileError

GOOD = """
name: shop
events:
  columns: {user_id: u, product_id: p, event_type: t, event_timestamp: ts}
"""


def test_the_repository_profiles_load():
    assert {"rees46", "uci_online_retail", "ga4"} <= set(load_profiles(DEFAULT_SOURCES))


def test_every_bad_file_is_named_with_its_key(tmp_path):
    (tmp_path / "shop.yaml").write_text(GOOD)
    (tmp_path / "other.yaml").write_text(GOOD)  # name does not match the file
    (tmp_path / "broken.yml").write_text("name: [unclosed\n")
    (tmp_path / "tz.yaml").write_text(
        GOOD.replace("shop", "tz") + "timestamps: {timezone: Nowhere}\n"
    )
    with pytest.raises(ProfileError) as err:
        load_profiles(tmp_path)
    message = str(err.value)
    assert f"{tmp_path / 'other.yaml'}: name: 'shop' must match the file name 'other'" in message
    assert f"{tmp_path / 'broken.yml'}: not YAML" in message
    assert f"{tmp_path / 'tz.yaml'}: timestamps.timezone: Value error, unknown time zone" in message


def test_a_missing_folder_given_explicitly_is_an_error(tmp_path):
    with pytest.raises(ProfileError, match="sources folder not found"):
        load_profiles(tmp_path / "nope")


def test_the_salt_comes_from_the_environment_first_then_ssm():
    assert salt_source("", env={"RETAIL_ETL_HASH_SALT": "pepper"})() == b"pepper"
    assert salt_source("", env={})() is None
    with mock_aws():
        ssm = boto3.client("ssm", region_name="eu-west-1")
        assert salt_source("/p/user-id-salt", env={}, ssm_client=lambda: ssm)() is None
        ssm.put_parameter(Name="/p/user-id-salt", Value="s3cret", Type="SecureString")
        assert salt_source("/p/user-id-salt", env={}, ssm_client=lambda: ssm)() == b"s3cret"
