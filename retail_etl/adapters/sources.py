"""Source profiles from a folder of YAML files, and the salt that hashes user ids.

`sources/NAME.yaml` (or `.yml`) holds profile NAME: the file's stem and its `name` must agree,
so the key `events/source=NAME/…` names the file that maps it. Every error names the file and
the key. The Lambda asset ships the repository's `sources/` (infra/runtime.py validates it at
synth time); the local `run --sources DIR` uses another folder.

The salt for `hash_user_ids` comes from configuration, never from a profile: the environment
variable `RETAIL_ETL_HASH_SALT` when set (local runs), else the SSM parameter named by the
setting `hash_salt_parameter` (`RETAIL_ETL_HASH_SALT_PARAMETER`; a SecureString, read once per
container and decrypted). Only a file whose profile hashes user ids asks for it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import yaml

from retail_etl.domain.profile import Profile, ProfileError, profile_from_dict

DEFAULT_SOURCES = Path(__file__).resolve().parents[2] / "sources"
SALT_ENV = "RETAIL_ETL_HASH_SALT"


def load_profile(path: Path) -> Profile:
    """One profile file, validated; ProfileError names the file and the key at fault."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path}: not YAML ({exc})") from exc
    profile = profile_from_dict(data, str(path))
    if profile.name != path.stem:
        raise ProfileError(f"{path}: name: {profile.name!r} must match the file name {path.stem!r}")
    return profile


def load_profiles(folder: Path | str | None = None) -> dict[str, Profile]:
    """Every profile of a folder by name (the repository's `sources/` by default). A folder
    that does not exist holds none; an invalid profile raises ProfileError listing all."""
    root = Path(folder) if folder else DEFAULT_SOURCES
    if not root.is_dir():
        if folder:
            raise ProfileError(f"{root}: sources folder not found")
        return {}
    profiles: dict[str, Profile] = {}
    errors = []
    for path in sorted([*root.glob("*.yaml"), *root.glob("*.yml")]):
        try:
            profile = load_profile(path)
        except ProfileError as exc:
            errors.append(str(exc))
            continue
        if profile.name in profiles:
            errors.append(f"{path}: name: profile {profile.name!r} is defined twice")
        profiles[profile.name] = profile
    if errors:
        raise ProfileError("\n".join(errors))
    return profiles


def salt_source(
    parameter: str = "",
    env: Mapping[str, str] = os.environ,
    ssm_client: Callable[[], object] | None = None,
) -> Callable[[], bytes | None]:
    """A function returning the hashing salt (None: none configured), read on first use:
    `RETAIL_ETL_HASH_SALT` when set, else the SSM SecureString `parameter` (decrypted)."""
    cache: dict[str, bytes | None] = {}

    def salt() -> bytes | None:
        if "salt" not in cache:
            cache["salt"] = _read_salt(parameter, env, ssm_client)
        return cache["salt"]

    return salt


def _read_salt(parameter: str, env: Mapping[str, str], ssm_client) -> bytes | None:
    if env.get(SALT_ENV):
        return env[SALT_ENV].encode("utf-8")
    if not parameter:
        return None
    if ssm_client is None:
        import boto3

        client = boto3.client("ssm")
    else:
        client = ssm_client()
    try:
        answer = client.get_parameter(Name=parameter, WithDecryption=True)
    except client.exceptions.ParameterNotFound:
        return None  # not created: files of hashing profiles fail with missing_hash_salt
    return answer["Parameter"]["Value"].encode("utf-8") or None
