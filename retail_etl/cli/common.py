"""What every command shares: the console, the one-line user error, the JSON report."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console

console = Console(highlight=False)
if not console.is_terminal:  # piped or in CI: don't squeeze tables into 80 columns
    console = Console(highlight=False, width=150)


class UsageError(Exception):
    """Bad input from the user: reported as one line, exit status 2."""


def is_aws_access_error(exc: BaseException) -> bool:
    """No credentials, an expired token, a missing profile, access denied, no such bucket:
    the user's setup, not a bug, so one line rather than a traceback. Anything else botocore
    raises (a throttle that outlived the retries, a service fault) stays a traceback."""
    from botocore.exceptions import (
        ClientError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
        ProfileNotFound,
        TokenRetrievalError,
    )

    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        return code in USER_ERROR_CODES or "NotFound" in code or "NoSuch" in code
    return isinstance(
        exc,
        NoCredentialsError
        | PartialCredentialsError
        | ProfileNotFound
        | NoRegionError
        | TokenRetrievalError,
    )


USER_ERROR_CODES = {
    "AccessDenied",
    "AccessDeniedException",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidAccessKeyId",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "UnrecognizedClientException",
    "AllAccessDisabled",
}


def aws_access_message(exc: BaseException) -> str:
    hint = " (set AWS_PROFILE or run `aws configure` / `aws sso login`)"
    return f"AWS: {exc}{hint}"


def write_json(path: Path | None, report: dict[str, Any]) -> None:
    if path is not None:
        path.write_text(json.dumps(report, indent=2, default=str) + "\n")
        console.print(f"report written to {path}")


@contextmanager
def spinner(message: str, quiet: bool = False):
    """A live status line on a terminal; one plain line per step when piped (CI logs);
    nothing at all when `quiet`."""
    if quiet:
        yield lambda text: None
    elif console.is_terminal:
        with console.status(message) as status:
            yield status.update
    else:
        console.print(message)
        yield lambda text: console.print(f"  {text}")
