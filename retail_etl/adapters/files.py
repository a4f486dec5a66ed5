"""Where generated files go: a local folder or an S3 prefix, behind one `write(key, data)`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

Writer = Callable[[str, bytes], None]


def local_writer(root: Path) -> Writer:
    def write(key: str, data: bytes) -> None:
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    return write


def s3_writer(url: str, client=None) -> Writer:
    """Writes under `s3://bucket/prefix`; the client comes from boto3's usual configuration."""
    import boto3

    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    if not bucket:
        raise ValueError(f"not an S3 URL with a bucket: {url!r}")
    s3 = client or boto3.client("s3")
    prefix = prefix.strip("/")

    def write(key: str, data: bytes) -> None:
        s3.put_object(Bucket=bucket, Key=f"{prefix}/{key}" if prefix else key, Body=data)

    return write


def writer_for(target: str) -> Writer:
    return s3_writer(target) if target.startswith("s3://") else local_writer(Path(target))
