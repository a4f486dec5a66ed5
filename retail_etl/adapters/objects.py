"""S3 for the pipeline: streaming reads of dropped files, Parquet objects in and out.

Dropped files are streamed with boto3 rather than read through awswrangler's readers: those
parse into DataFrames, while the core needs the raw bytes to keep each record's line number
and original text for quarantine. Table data goes through the Iceberg adapter (`tables.py`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from botocore.exceptions import ClientError


def split_url(url: str) -> tuple[str, str]:
    """`s3://bucket/key` as (bucket, key)."""
    bucket, _, key = url.removeprefix("s3://").partition("/")
    return bucket, key


class Store(Protocol):
    """What the steps need of object storage: `ObjectStore` on S3, `FolderStore` on disk."""

    def open(self, bucket: str, key: str, version: str | None = None) -> BinaryIO: ...
    def version_of(self, bucket: str, key: str) -> str: ...
    def current_version(self, bucket: str, key: str) -> str | None: ...
    def modified_date(self, bucket: str, key: str, version: str | None = None) -> dt.date: ...
    def put_object(self, bucket: str, key: str, body: bytes) -> None: ...
    def sizes(self, bucket: str, prefix: str) -> dict[str, int]: ...
    def list(self, bucket: str, prefix: str) -> list[str]: ...


class ObjectStore:
    """The few S3 operations the pipeline needs, over a boto3 client."""

    def __init__(self, client: Any) -> None:
        self.s3 = client

    def open(self, bucket: str, key: str, version: str | None = None) -> BinaryIO:
        """A streaming body: read(n) pulls the object in pieces, never whole."""
        kwargs = {"Bucket": bucket, "Key": key}
        if version:
            kwargs["VersionId"] = version
        return self.s3.get_object(**kwargs)["Body"]

    def version_of(self, bucket: str, key: str) -> str:
        """The object's VersionId, or its ETag in an unversioned bucket."""
        head = self.s3.head_object(Bucket=bucket, Key=key)
        version = head.get("VersionId")
        return version if version and version != "null" else head["ETag"].strip('"')

    def current_version(self, bucket: str, key: str) -> str | None:
        """`version_of`, or None when the key no longer exists."""
        try:
            return self.version_of(bucket, key)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("404", "NoSuchKey"):
                return None
            raise

    def modified_date(self, bucket: str, key: str, version: str | None = None) -> dt.date:
        """The UTC date a version was written (a products file's effective date without dt=)."""
        kwargs = {"Bucket": bucket, "Key": key}
        if version:
            kwargs["VersionId"] = version
        return self.s3.head_object(**kwargs)["LastModified"].astimezone(dt.UTC).date()

    def put_object(self, bucket: str, key: str, body: bytes) -> None:
        self.s3.put_object(Bucket=bucket, Key=key, Body=body)

    def sizes(self, bucket: str, prefix: str) -> dict[str, int]:
        """Every object under the prefix with its size in bytes."""
        out: dict[str, int] = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            out |= {o["Key"]: o["Size"] for o in page.get("Contents", [])}
        return out

    def list(self, bucket: str, prefix: str) -> list[str]:
        return list(self.sizes(bucket, prefix))


class FolderStore:
    """The same operations over local folders, one per bucket: the store of runs with no
    emulated AWS. A file's version is its size and modification time in nanoseconds: a stat,
    not a read, since it is asked at the start and again at the publish of every file (S3's
    ETag plays that part in an unversioned bucket)."""

    def __init__(self, buckets: Mapping[str, Path]) -> None:
        self.buckets = {name: Path(root) for name, root in buckets.items()}

    def _path(self, bucket: str, key: str) -> Path:
        return self.buckets[bucket] / key

    def open(self, bucket: str, key: str, version: str | None = None) -> BinaryIO:
        return open(self._path(bucket, key), "rb")

    def version_of(self, bucket: str, key: str) -> str:
        stat = self._path(bucket, key).stat()
        return f"{stat.st_size}-{stat.st_mtime_ns}"

    def current_version(self, bucket: str, key: str) -> str | None:
        return self.version_of(bucket, key) if self._path(bucket, key).is_file() else None

    def modified_date(self, bucket: str, key: str, version: str | None = None) -> dt.date:
        mtime = self._path(bucket, key).stat().st_mtime
        return dt.datetime.fromtimestamp(mtime, dt.UTC).date()

    def put_object(self, bucket: str, key: str, body: bytes) -> None:
        path = self._path(bucket, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)

    def sizes(self, bucket: str, prefix: str) -> dict[str, int]:
        root = self.buckets[bucket]
        if not root.exists():
            return {}
        return {
            key: path.stat().st_size
            for path in sorted(root.rglob("*"))
            if path.is_file() and (key := path.relative_to(root).as_posix()).startswith(prefix)
        }

    def list(self, bucket: str, prefix: str) -> list[str]:
        return list(self.sizes(bucket, prefix))
