"""The Glue job of the state machine's large-date path, run on this machine.

Deployed, AggregateOnGlue starts the job (`glue:startJobRun.sync`) and waits: the job reads the
curated data files its manifest lists and writes one folder per aggregate under
`--output_path`, which PublishGlueOutput then commits. Locally the job's own code
(`glue_jobs/aggregate_day.py`, `run`) gets the same arguments on a local SparkSession: the
listed files are first copied out of the emulated bucket into a temporary folder (a local Spark
has no S3 connector), and what the job writes is put under the output path. The session starts
with the first date the plan sends to Glue (dates above `glue_threshold_bytes`) and stops with
the pipeline.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from retail_etl.adapters.objects import split_url
from retail_etl.local.states import StatesError

# (data files, output folder, event date): writes OUTPUT/<aggregate>/event_date=<date>/*.parquet
Engine = Callable[[list[str], str, str], None]
SUCCEEDED = "SUCCEEDED"


class LocalGlueJobs:
    """The definition's Glue jobs, each run by `engine` (by default the Spark job)."""

    def __init__(self, s3: Any, jobs: Iterable[str], engine: Engine | None = None) -> None:
        self.s3 = s3
        self.jobs = set(jobs)
        self._engine = engine or self._spark_job
        self._spark = None
        self._lock = threading.Lock()

    def start_job_run_sync(self, parameters: dict) -> dict:
        """The `glue:startJobRun.sync` integration: run the job to its end."""
        name = parameters["JobName"]
        if name not in self.jobs:
            raise StatesError("Glue.EntityNotFoundException", f"no job {name}")
        args = parameters["Arguments"]
        bucket, key = split_url(args["--manifest"])
        manifest = json.loads(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        with tempfile.TemporaryDirectory(prefix="glue-") as work:
            files = []
            for i, entry in enumerate(manifest["entries"]):
                path = os.path.join(work, "in", f"{i}.parquet")
                os.makedirs(os.path.dirname(path), exist_ok=True)
                self.s3.download_file(*split_url(entry["url"]), path)
                files.append(path)
            output = Path(work, "out")
            self._engine(files, str(output), args["--event_date"])
            bucket, prefix = split_url(args["--output_path"])
            for path in sorted(output.rglob("*")):
                relative = path.relative_to(output).as_posix()
                if path.is_file() and not path.name.startswith(("_", ".")):  # Spark's markers
                    self.s3.upload_file(str(path), bucket, prefix.rstrip("/") + "/" + relative)
        return {"JobName": name, "Id": f"jr_{uuid.uuid4().hex}", "JobRunState": SUCCEEDED}

    def _spark_job(self, files: list[str], output: str, event_date: str) -> None:
        from glue_jobs.aggregate_day import run

        run(self._session(), files, output, event_date)

    def _session(self):
        with self._lock:
            if self._spark is None:
                os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
                from pyspark.sql import SparkSession

                self._spark = (
                    SparkSession.builder.master("local[2]")
                    .appName("retail-etl-local-glue")
                    .config("spark.sql.session.timeZone", "UTC")
                    .config("spark.ui.enabled", "false")
                    .getOrCreate()
                )
            return self._spark

    def close(self) -> None:
        if self._spark is not None:
            self._spark.stop()
