"""The whole pipeline on a laptop: the real handlers against emulated AWS, DuckDB as Redshift.

`LocalPipeline` is a context manager that stands up a moto server (port 0) with every resource
the stack creates, named from cdk.json's `dev` environment (`Settings.for_environment`), and
restores the state a previous command left in the output folder. Then:

* `drop(input_dir)` puts each file into the raw bucket as a producer would (drop order: `dt=`
  date, a date's products before its events, then path; a file whose bytes are already the
  current object is left alone, like `aws s3 sync`; the uploads run ahead, in that order),
  sends the EventBridge "Object Created" event the stack's rule puts on the ingest queue
  once a wave's files are in, and drains the queue like the Lambda event
  source mapping: the ingest handler gets SQS batches, failed items are retried and end in the
  DLQ after the allowed receives;
* `run_daily()` executes the daily state machine: the definition the CDK app synthesizes
  (`workflow.py`), interpreted here with its Lambda tasks in the same containers. The Choice
  sends each date to Lambda or Glue, Retry and Catch hold, and the load is submitted, polled
  and explained as deployed; the warehouse is the local substitution: the planned dates go
  into `warehouse.duckdb` with the same SQL Redshift runs (see `adapters/warehouse.py`), read
  from the mirrored Parquet.

Handlers run in worker processes (`containers.py`) as Lambda containers would. On exit the
account is written down to the output folder (`state.py`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from retail_etl import daily
from retail_etl.adapters.ledger import (
    DONE,
    FINISHED,
    IN_PROGRESS,
    SUPERSEDED,
    Claim,
    DynamoLedger,
    FileRecord,
    FileVersion,
)
from retail_etl.adapters.objects import ObjectStore, split_url
from retail_etl.adapters.tables import Lake
from retail_etl.adapters.warehouse import DuckDBWarehouse
from retail_etl.config import Settings
from retail_etl.domain.report import FileReport, FileStatus
from retail_etl.ingest import kind_of, object_refs
from retail_etl.local.account import provision
from retail_etl.local.containers import ContainerDied, LambdaContainers
from retail_etl.local.delivery import lambda_sqs_record, object_created
from retail_etl.local.dropped import DroppedFile, discover, largest_first, waves
from retail_etl.local.emulator import EMULATOR_ENV, emulated_aws
from retail_etl.local.state import LocalState
from retail_etl.local.workflow import DailyRun, LocalDailyWorkflow, load_definition

INGEST = "lambdas.ingest.handler.handler"
WAREHOUSE = "warehouse.duckdb"
# One file per invocation locally, so two containers clean two files at once; in AWS the event
# source mapping batches up to 5 and scales out instead.
BATCH_SIZE = 1
DEAD_LETTERED = "DEAD_LETTERED"
UNCHANGED = "UNCHANGED"
CONTAINER_DIED = "lambda_container_died"

Progress = Callable[[str], None]


@dataclass
class FileOutcome:
    """One dropped file as the ledger (or the DLQ) saw it."""

    key: str
    kind: str
    status: str
    record: FileRecord | None = None  # the ledger's, when it has one

    @property
    def landed(self) -> bool:
        """Curated now, or unchanged since it was (or replaced by a newer version)."""
        landed = (DONE, SUPERSEDED)
        last = self.record.status if self.record else None
        return self.status in landed or (self.status == UNCHANGED and last in landed)

    def reconciles(self) -> bool:
        if self.record is None or self.record.status != DONE:
            return True  # nothing was curated from it
        return self.record.reconciles()

    def to_dict(self) -> dict[str, Any]:
        r = self.record or FileRecord("", self.key, "", "")
        return {
            "key": self.key,
            "kind": self.kind,
            "status": self.status,
            "last_status": r.status or None,
            "rows_in": r.rows_in,
            "rows_curated": r.rows_curated,
            "rows_duplicate": r.rows_duplicate,
            "rows_quarantined": r.rows_quarantined,
            "rows_excluded": r.rows_excluded,
            "unused_columns": r.unused_columns,
            "source": r.source or None,
            "reconciles": self.reconciles(),
            "event_dates": r.event_dates,
            "error_code": r.error_code or None,
            "error_message": r.error_message or r.last_error or None,
            "attempts": r.attempts,
            "duration_s": r.duration_s,
        }


class LocalPipeline:
    """The deployed pipeline, emulated in this process; state kept in `out_dir`."""

    def __init__(
        self,
        out_dir: Path,
        settings: Settings | None = None,
        workers: int = 2,
        progress: Progress | None = None,
        read_only: bool = False,
        tables: bool = False,
    ) -> None:
        """`read_only`: restore the ledger and DLQ only, start no Lambda containers and write
        nothing back; with `tables`, restore the buckets and the tables too, to read them
        (`status`'s true counts, `report`)."""
        self.out_dir = Path(out_dir)
        self.read_only = read_only
        self.tables = tables
        self.settings = settings or Settings.for_environment()
        self.workers = workers
        self.progress = progress or (lambda message: None)
        self.definition = load_definition()  # the daily state machine (workflow.py)
        self._stack = ExitStack()
        self._lock = threading.Lock()
        self._handled, self._expected = 0, 0

    # lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> LocalPipeline:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._stack.enter_context(emulated_aws())
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def _start(self) -> None:
        s = self.settings
        if not self.read_only:  # started first: their cold starts overlap provisioning
            env = {
                **{k: os.environ[k] for k in EMULATOR_ENV},
                **s.to_env(),
                "POWERTOOLS_METRICS_NAMESPACE": "RetailEtl",
            }
            handlers = (INGEST, *self.definition["handlers"].values())
            self.containers = LambdaContainers(
                env, self.out_dir / "logs" / "lambda.log", self.workers, handlers
            )
            self._stack.callback(self.containers.close)
        provision(s)
        self.s3 = boto3.client("s3")
        self.sqs = boto3.client("sqs")
        self.store = ObjectStore(self.s3)
        self.ledger = DynamoLedger(boto3.client("dynamodb"), s.ledger_table, s.lease_seconds)
        self.lake = Lake.glue(s)
        self.queue_url = self.sqs.get_queue_url(QueueName=s.ingest_queue)["QueueUrl"]
        self.dlq_url = self.sqs.get_queue_url(QueueName=s.dead_letter_queue)["QueueUrl"]
        self.queue_arn = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        if not self.read_only:
            self.workflow = LocalDailyWorkflow(
                self.definition,
                self.containers.invoke,
                self._load,
                self.s3,
                self.out_dir,
                self.progress,
            )
            self._stack.callback(self.workflow.close)
        self.state = LocalState(
            s, self.out_dir, self.s3, self.ledger, self.sqs, self.dlq_url, self.lake
        )
        if self.state.exists:
            self.progress(f"restoring the state kept in {self.out_dir}")
            self.state.restore(objects=not self.read_only or self.tables)

    def __exit__(self, *exc_info) -> None:
        try:
            if not self.read_only:
                self.save()
        finally:
            self._stack.close()

    def save(self) -> None:
        """Write the account down to the output folder (mirror and ledger JSON)."""
        self.progress(f"writing the buckets and the ledger to {self.out_dir}")
        self.state.save()

    # ingestion ------------------------------------------------------------------------------

    def drop(self, input_dir: Path) -> list[FileOutcome]:
        """Drop every file under `input_dir` in drop order and let the ingest Lambda process
        them; returns one outcome per file (UNCHANGED for files already in the raw bucket)."""
        input_dir = Path(input_dir)
        if not input_dir.is_dir():
            raise NotADirectoryError(f"input folder not found: {input_dir}")
        files = discover(input_dir)
        self._handled, self._expected = 0, 0
        outcomes: dict[str, FileOutcome] = {}
        versions: dict[str, str] = {}
        # The producer uploads every file, in drop order, ahead of the deliveries: a wave is
        # announced once its own files are in the bucket, so the next waves' uploads overlap
        # this one's processing instead of keeping both containers idle.
        producer = ThreadPoolExecutor(1, thread_name_prefix="producer")
        uploads = {f.key: producer.submit(self._put, input_dir, f) for f in files}
        try:
            for wave in waves(files):
                for f in wave:
                    version = uploads[f.key].result()
                    if version is None:  # reported with the outcome of its last processing
                        earlier = self.ledger.versions(self.settings.raw_bucket, f.key)
                        outcomes[f.key] = FileOutcome(
                            f.key, f.kind, UNCHANGED, earlier[-1] if earlier else None
                        )
                    else:
                        versions[f.key] = version
                # A wave's files are processed concurrently, so the order of their events
                # only schedules the containers
                for f in largest_first([f for f in wave if f.key in versions]):
                    self._announce(f.key, versions[f.key])
                self.drain()
        finally:
            producer.shutdown(wait=True, cancel_futures=True)
        for f in files:
            if f.key not in outcomes:
                outcomes[f.key] = self.outcome(f.key, f.kind, versions[f.key])
        return [outcomes[f.key] for f in files]

    def _put(self, input_dir: Path, f: DroppedFile) -> str | None:
        """Upload unless the raw bucket's current object has the same bytes; the version."""
        path = input_dir / f.key
        data = path.read_bytes()
        try:
            current = self.s3.head_object(Bucket=self.settings.raw_bucket, Key=f.key)["ETag"]
        except self.s3.exceptions.ClientError as exc:
            if exc.response["Error"]["Code"] not in ("404", "NoSuchKey"):
                raise
            current = None
        # the bytes are hashed only to compare with an object already there
        if (
            current is not None
            and current == f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"'
        ):
            return None
        put = self.s3.put_object(Bucket=self.settings.raw_bucket, Key=f.key, Body=data)
        self.state.note("raw", f.key, data, put["ETag"])
        return put["VersionId"]

    def ingest(self, files: dict[str, bytes]) -> list[FileOutcome]:
        """Put new files (replays) into the raw bucket and let the ingest Lambda take them."""
        versions = {}
        self._handled, self._expected = 0, 0
        for key, data in files.items():
            put = self.s3.put_object(Bucket=self.settings.raw_bucket, Key=key, Body=data)
            versions[key] = put["VersionId"]
            self._announce(key, put["VersionId"])
        self.drain()
        return [self.outcome(k, kind_of(k), v) for k, v in versions.items()]

    def _announce(self, key: str, version: str) -> None:
        """What the stack's EventBridge rule does for every new raw object."""
        event = object_created(self.settings.raw_bucket, key, version)
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(event))
        with self._lock:
            self._expected += 1

    def redeliver(self) -> int:
        """Send every processed file's event again (S3 and SQS deliver at least once)."""
        files = [r for r in self.ledger.files() if r.status in FINISHED]
        self._handled, self._expected = 0, 0
        for record in files:
            self._announce(record.key, record.version)
        self.drain()
        return len(files)

    def drain(self) -> None:
        """Poll the ingest queue like the Lambda event source mapping until it is empty."""
        with ThreadPoolExecutor(self.workers, thread_name_prefix="poller") as pollers:
            for poller in [pollers.submit(self._poll) for _ in range(self.workers)]:
                poller.result()

    def _poll(self) -> None:
        while True:
            messages = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=BATCH_SIZE,
                AttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                # Nothing left for this poller: a message in flight is another poller's,
                # which deletes it or makes it visible again and receives it itself (no new
                # message comes during a drain). Waiting beside it would only poll the
                # emulator twenty times a second, its CPU taken from the busy container.
                if self._none_visible():
                    return
                time.sleep(0.05)
                continue
            region = self.s3.meta.region_name
            event = {"Records": [lambda_sqs_record(m, self.queue_arn, region) for m in messages]}
            try:
                reply = self.containers.invoke(INGEST, event)
            except ContainerDied as exc:
                self._container_died(messages, exc)
                continue
            failed = {f["itemIdentifier"] for f in reply.get("batchItemFailures", [])}
            for m in messages:
                if m["MessageId"] in failed:  # retry now rather than after the visibility timeout
                    self.sqs.change_message_visibility(
                        QueueUrl=self.queue_url,
                        ReceiptHandle=m["ReceiptHandle"],
                        VisibilityTimeout=0,
                    )
                else:
                    self.sqs.delete_message(
                        QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"]
                    )
                    with self._lock:
                        self._handled += 1
                        count = f" ({self._handled}/{self._expected})" if self._expected else ""
                    keys = ", ".join(r.key for r in object_refs(json.loads(m["Body"])))
                    self.progress(f"ingest Lambda handled {keys}{count}")

    def _container_died(self, messages: list[dict], exc: ContainerDied) -> None:
        """Record the batch's files failed with the cause and drop their messages: the same
        bytes would kill the replacement container too (in AWS the message is retried into
        the DLQ and the ledger keeps the lease until it expires)."""
        for m in messages:
            for ref in object_refs(json.loads(m["Body"])):
                file = FileVersion(ref.bucket, ref.key, ref.version or "")
                record = self.ledger.get(file)
                if record and record.status == IN_PROGRESS:  # died while holding the claim
                    claim = Claim(True, IN_PROGRESS, record.lease_token)
                else:  # died before claiming it
                    claim = self.ledger.claim(file)
                if claim.owned:
                    report = FileReport(
                        key=ref.key,
                        kind=ref.key.split("/", 1)[0],
                        status=FileStatus.FAILED_PERMANENT,
                        error_code=CONTAINER_DIED,
                        error_message=str(exc),
                    )
                    self.ledger.fail_permanently(file, claim, report)
                self.progress(f"ingest Lambda died on {ref.key}: recorded failed")
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])
            with self._lock:
                self._handled += 1

    def _none_visible(self) -> bool:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) == 0

    def outcome(self, key: str, kind: str, version: str) -> FileOutcome:
        record = self.ledger.get(FileVersion(self.settings.raw_bucket, key, version))
        status = record.status if record else None
        if status not in FINISHED:
            status = DEAD_LETTERED  # every try failed: the message is in the DLQ
        return FileOutcome(key, kind, status, record)

    def dead_letters(self) -> int:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
        )
        return int(attrs["Attributes"]["ApproximateNumberOfMessages"])

    # the daily workflow ---------------------------------------------------------------------

    def run_daily(self, run_date: dt.date | None = None) -> DailyRun | None:
        """One execution of the daily state machine (`workflow.py`). Without a run date its
        input is the schedule's, `{"run_date": null}` (the plan takes yesterday), and it runs
        only when a file changed a date: None when no date is dirty."""
        if run_date is None and not self.ledger.dirty_dates():
            return None
        return self.workflow.run(run_date)

    def _load(self, days: list[str]) -> dict[str, float]:
        """The local load statement: mirror the zones the load reads, then load; timed."""
        started = time.perf_counter()
        self.state.mirror("curated", "analytics")  # the load reads the mirrored Parquet
        mirrored = time.perf_counter()
        self.progress(f"loading {WAREHOUSE}")
        self.load(days)
        return {"mirror_s": mirrored - started, "load_s": time.perf_counter() - mirrored}

    def load(self, days: list[str]) -> None:
        """The dates' facts and aggregates into the DuckDB warehouse, from the mirror."""
        request = daily.load_request(days, self.settings, self.store, self.lake)
        warehouse = DuckDBWarehouse(self.out_dir / WAREHOUSE, locate=self._mirrored)
        try:
            warehouse.load(request)
        finally:
            warehouse.close()

    def _mirrored(self, url: str) -> str:
        """Where the mirror holds the object at an s3:// URL."""
        zones = {z.bucket: z for z in self.state.zones.values()}
        bucket, key = split_url(url)
        return str(zones[bucket].path(key))
