"""An in-process moto server whose DynamoDB and SQS requests and Glue table updates run one
at a time.

moto's threaded server runs requests concurrently without locking its backends, so two
conditional DynamoDB writes racing each other can both succeed. DynamoDB applies each item
write atomically; serialising DynamoDB requests gives the local run and the tests that
guarantee too, so concurrency tests exercise the ledger's conditions, not moto's races.
SQS likewise: moto's receive checks that a message is visible and then marks it received, and
its delete rebuilds the queue's message list, both unlocked; two pollers can receive one
message twice or put a deleted one back, and a delete then fails with ReceiptHandleIsInvalid
(seen once in CI with two pollers on a loaded machine). SQS requests are short: no poller
uses long polling, so none holds the lock waiting.

Glue's UpdateTable takes the VersionId the caller read and fails with
ConcurrentModificationException when the table changed since: that check is what makes an
Iceberg commit through the Glue catalog optimistic. moto ignores it (two writers both win and
one's commit is lost), so the emulator applies it, as Glue does.
Other services stay concurrent: a streaming S3 read must not block the writes beside it.
"""

from __future__ import annotations

import functools
import io
import json
import logging
import os
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID
from moto.glue.models import glue_backends
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server


class _Serial:
    """WSGI middleware: DynamoDB and SQS requests (X-Amz-Target DynamoDB_… or AmazonSQS.…)
    run under one lock."""

    TARGETS = ("DynamoDB", "AmazonSQS")

    def __init__(self, app) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith(self.TARGETS):
            with self.lock:
                return list(self.app(environ, start_response))
        return self.app(environ, start_response)


class _GlueVersionCheck:
    """WSGI middleware: UpdateTable requests run one at a time, and one whose VersionId is
    not the table's current one is refused as Glue refuses it."""

    def __init__(self, app) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET", "") != "AWSGlue.UpdateTable":
            return self.app(environ, start_response)  # reads stay concurrent
        with self.lock:  # the check and the update, atomic against other updates
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = io.BytesIO(body)
            stale = self._stale(json.loads(body or b"{}"))
            if stale:
                start_response("400 Bad Request", [("Content-Type", "application/json")])
                error = {"__type": "ConcurrentModificationException", "message": stale}
                return [json.dumps(error).encode()]
            return list(self.app(environ, start_response))

    @staticmethod
    def _stale(request: dict[str, Any]) -> str:
        expected = request.get("VersionId")
        if expected is None:
            return ""
        backend = glue_backends[DEFAULT_ACCOUNT_ID][
            os.environ.get("AWS_DEFAULT_REGION", "eu-west-1")
        ]
        name = request["TableInput"]["Name"]
        try:
            current = backend.get_table(request["DatabaseName"], name).as_dict()["VersionId"]
        except Exception:
            return ""
        if str(current) == str(expected):
            return ""
        return f"Table {name} was modified: version {current}, not {expected}"


class _Dispatcher(DomainDispatcherApplication):
    """moto's dispatcher with the host → backend lookup remembered. moto lists its package
    folder and tries every service's URL patterns on each request, under one lock: with
    thousands of S3 and DynamoDB requests per run that was an eighth of the emulator's time."""

    @functools.lru_cache(maxsize=256)  # noqa: B019 - one dispatcher per server, lives as long
    def get_backend_for_host(self, host: str | None) -> Any:
        return super().get_backend_for_host(host)


class LocalMotoServer:
    """moto's WSGI application (its public `create_backend_app` and dispatcher) with the
    middlewares above, served by werkzeug on 127.0.0.1 and a free port (never a fixed one: a
    busy port makes moto hang), in a daemon thread."""

    def __init__(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request is noise
        app = _GlueVersionCheck(_Serial(_Dispatcher(create_backend_app)))
        self.server = make_server(
            "127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler
        )
        # stop() waits for the serving loop's next poll: 0.5 s by default, per emulated account
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> None:
        self.thread.start()  # the socket listens already: requests queue until it serves

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join()

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def emulated_aws(region: str = "eu-west-1") -> Iterator[str]:
    """Start the server and point every boto3 client of this process at it (fake keys)."""
    server = LocalMotoServer()
    server.start()
    # moto's backends live in the process, not the server: start from an empty account.
    urllib.request.urlopen(
        urllib.request.Request(f"{server.endpoint}/moto-api/reset", method="POST")
    ).close()
    saved = {k: os.environ.get(k) for k in EMULATOR_ENV}
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": server.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": region,
            "MOTO_PORT": str(server.port),
            # no CRC32 of every upload and download against the emulator: over its loopback
            # socket they check nothing (the deployed Lambdas keep the SDK's defaults)
            "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
            "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
        }
    )
    try:
        yield server.endpoint
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


EMULATOR_ENV = (
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "MOTO_PORT",
    "AWS_REQUEST_CHECKSUM_CALCULATION",
    "AWS_RESPONSE_CHECKSUM_VALIDATION",
)
