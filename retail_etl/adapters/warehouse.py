"""The warehouse: Redshift through the Data API in AWS, a DuckDB file on a laptop.

Both run the same SQL from `sql/redshift/`: the DDL and the load statements are written once in
Redshift's dialect and transpiled to DuckDB by sqlglot; only the COPY lines differ (DuckDB
reads the same Parquet with `read_parquet`). A load replaces the rows of its dates in one
transaction, so a failure leaves the previous rows intact and a load run twice gives the same
warehouse.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SQL_DIR = Path(__file__).resolve().parents[2] / "sql" / "redshift"
DATE_TABLES = (
    "fact_events",
    "daily_category_revenue",
    "daily_top_viewed_products",
    "daily_multi_purchase_users",
)


class LoadFailed(Exception):
    """A load statement FAILED or was ABORTED; the message carries the first load errors."""


class LoadTimedOut(LoadFailed):
    """A statement did not finish within the poll bound."""


def split_sql(text: str) -> list[str]:
    """The statements of a SQL script as written, without the comments between them.

    sqlglot's tokenizer finds the semicolons that end statements (not those in strings,
    quoted names or comments); a statement is the text from its first token to its last.
    Imported here: only the warehouse steps split SQL, and sqlglot takes ~0.15 s to import.
    """
    import sqlglot
    from sqlglot.tokens import TokenType

    spans: list[list[int]] = []
    ended = True
    for token in sqlglot.tokenize(text, read="redshift"):
        if token.token_type == TokenType.SEMICOLON:
            ended = True
        elif ended:
            spans.append([token.start, token.end])
            ended = False
        else:
            spans[-1][1] = token.end
    return [text[start : end + 1] for start, end in spans]


def ddl() -> list[str]:
    return split_sql((SQL_DIR / "ddl.sql").read_text())


@dataclass(frozen=True)
class FileSet:
    """A table's current data files for one date: a COPY manifest listing them, and the list."""

    manifest: str
    files: list[str]


@dataclass(frozen=True)
class LoadRequest:
    """What to load: the dates, and the data files of each table for each date."""

    dates: Sequence[dt.date]
    # (table, date) -> that date's data files (None: no rows); date None for dim_product
    source: Callable[[str, dt.date | None], FileSet | None]


@dataclass(frozen=True)
class Copy:
    """Fill `stage` from a set of Parquet files: the one statement that differs by engine."""

    stage: str
    files: FileSet


_COPIES = "COPIES"


def _expand(template: str, copies: Sequence[Copy] = (), **values: str) -> list[str | Copy]:
    out: list[str | Copy] = []
    for statement in split_sql(template.format(copies=_COPIES + ";", **values)):
        out += copies if statement == _COPIES else [statement]
    return out


@dataclass(frozen=True)
class LoadStatements:
    """A load in Redshift's dialect: the statements that fill each table's stage (a temporary
    table, the session's own), then those that replace the warehouse rows from the stages."""

    staging: list[str | Copy]
    replacing: list[str]
    stages: list[str]

    @property
    def statements(self) -> list[str | Copy]:
        """Both, in order: what one transaction runs."""
        return [*self.staging, *self.replacing]


def load_statements(request: LoadRequest) -> LoadStatements:
    """The load of `request`'s dates, every table's stage filled before any row is replaced."""
    dates = ", ".join(f"'{d.isoformat()}'" for d in sorted(request.dates))
    stage_sql = (SQL_DIR / "stage.sql").read_text()
    date_sql = (SQL_DIR / "load.sql").read_text()
    staging: list[str | Copy] = []
    replacing: list[str] = []
    stages: list[str] = []
    tables = [(t, date_sql, sorted(request.dates)) for t in DATE_TABLES]
    if request.source("dim_product", None):
        tables.append(("dim_product", (SQL_DIR / "load_dim_product.sql").read_text(), [None]))
    for table, replace_sql, days in tables:
        stage = f"stage_{table}"
        copies = [Copy(stage, loc) for loc in (request.source(table, d) for d in days) if loc]
        staging += _expand(stage_sql, copies, table=table, stage=stage)
        replacing += _expand(replace_sql, table=table, stage=stage, dates=dates)
        stages.append(stage)
    return LoadStatements(staging, replacing, stages)


class DuckDBWarehouse:
    """The local warehouse: a DuckDB file with schema `retail`."""

    def __init__(self, path: Path | str, locate: Callable[[str], str] = lambda url: url) -> None:
        """`locate` maps a data file's URL to where DuckDB reads it (a local mirror)."""
        import duckdb

        self.locate = locate
        self.con = duckdb.connect(str(path))
        self.con.execute("SET TimeZone = 'UTC'")  # Parquet UTC timestamps land unshifted
        # a table's rows have no order (Redshift keeps none): DuckDB may insert in parallel,
        # which took the load of 1M facts from 5.6-7.7 s to 3.4 s
        self.con.execute("SET preserve_insertion_order = false")

    @staticmethod
    def to_duckdb(statement: str) -> str:
        """A Redshift statement in DuckDB's dialect (distribution and sort keys dropped)."""
        import sqlglot  # local runs only: the Lambdas never transpile
        from sqlglot.errors import ErrorLevel

        return sqlglot.transpile(
            statement, read="redshift", write="duckdb", unsupported_level=ErrorLevel.IGNORE
        )[0]

    def render(self, statement: str | Copy) -> str:
        if isinstance(statement, Copy):
            files = ", ".join(f"'{self.locate(f)}'" for f in statement.files.files)
            # by name, as Redshift's FILLRECORD: a file written before a column was added
            # to its table (event_id_hash) loads it as NULL
            return (
                f"INSERT INTO {statement.stage} BY NAME SELECT * FROM "
                f"read_parquet([{files}], hive_partitioning = false, union_by_name = true)"
            )
        return self.to_duckdb(statement)

    def create(self) -> None:
        for statement in ddl():
            self.con.execute(self.to_duckdb(statement))

    def load(self, request: LoadRequest) -> None:
        """Fill the stages, then replace the rows in one transaction. The stages are filled
        before it, each statement committed: they are temporary tables nobody else sees, and
        DuckDB scans committed rows on every thread but a transaction's own on one (the
        insert of 3M facts took 6.9 s from a stage filled in the transaction, 3.7 s else)."""
        self.create()
        load = load_statements(request)
        try:
            for statement in load.staging:
                self.con.execute(self.render(statement))
            self.con.execute("BEGIN TRANSACTION")
            try:
                for statement in load.replacing:
                    self.con.execute(self.render(statement))
            except Exception:
                self.con.execute("ROLLBACK")
                raise
            self.con.execute("COMMIT")
        finally:  # a load that failed leaves no stage behind for the next one
            for stage in load.stages:
                self.con.execute(f"DROP TABLE IF EXISTS {stage}")

    def query(self, sql: str, parameters: Sequence[Any] | None = None) -> Any:
        return self.con.execute(sql, parameters)

    def close(self) -> None:
        self.con.close()


FINISHED = "FINISHED"
ENDED = (FINISHED, "FAILED", "ABORTED")  # DescribeStatement's final states


@dataclass(frozen=True)
class Statement:
    """A Data API statement as DescribeStatement reports it."""

    id: str
    status: str  # SUBMITTED, PICKED, STARTED, FINISHED, FAILED or ABORTED
    error: str = ""

    @property
    def ended(self) -> bool:
        return self.status in ENDED


class RedshiftWarehouse:
    """Redshift Serverless through the Data API, with bounded polling of each statement."""

    def __init__(
        self,
        client: Any,
        workgroup: str,
        database: str,
        iam_role: str,
        poll_seconds: float = 2.0,
        max_polls: int = 450,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api = client
        self.workgroup = workgroup
        self.database = database
        self.iam_role = iam_role
        self.poll_seconds = poll_seconds
        self.max_polls = max_polls
        self.sleep = sleep

    def render(self, statement: str | Copy) -> str:
        if isinstance(statement, Copy):
            return (
                f"COPY {statement.stage} FROM '{statement.files.manifest}' "
                f"IAM_ROLE '{self.iam_role}' FORMAT AS PARQUET MANIFEST FILLRECORD"
            )
        return statement

    def submit(self, statements: list[str]) -> str:
        """Start statements as one transaction (batch_execute_statement); returns its id."""
        started = self.api.batch_execute_statement(
            WorkgroupName=self.workgroup, Database=self.database, Sqls=statements
        )
        return started["Id"]

    def run(self, statements: list[str]) -> str:
        """Run statements as one transaction and wait for them."""
        return self.wait(self.submit(statements))

    def submit_load(self, request: LoadRequest) -> str:
        """DDL and the load in one transaction, not waited for: the state machine polls."""
        return self.submit(ddl() + [self.render(s) for s in load_statements(request).statements])

    def describe(self, statement_id: str) -> Statement:
        status = self.api.describe_statement(Id=statement_id)
        return Statement(statement_id, status["Status"], status.get("Error", ""))

    def poll(self, statement_id: str, max_polls: int | None = None) -> Statement:
        """Describe a statement every `poll_seconds` until it ends or `max_polls` (default:
        the warehouse's bound) is reached; returns the last state seen. The one polling loop
        of the Data API in the project (the state machine polls with its own Wait state)."""
        statement = self.describe(statement_id)
        for _ in range((self.max_polls if max_polls is None else max_polls) - 1):
            if statement.ended:
                break
            self.sleep(self.poll_seconds)
            statement = self.describe(statement_id)
        return statement

    def failure(self, statement_id: str) -> LoadFailed:
        """The error to report for a statement that ended FAILED or ABORTED."""
        return self._failed(self.describe(statement_id))

    def _failed(self, statement: Statement) -> LoadFailed:
        detail = statement.error or "no error message"
        return LoadFailed(
            f"statement {statement.id} {statement.status}: {detail}{self._load_errors()}"
        )

    def wait(self, statement_id: str) -> str:
        statement = self.poll(statement_id)
        if statement.status == FINISHED:
            return statement_id
        if statement.ended:
            raise self._failed(statement)
        raise LoadTimedOut(
            f"statement {statement_id} not finished after {self.max_polls} polls "
            f"of {self.poll_seconds}s"
        )

    def _load_errors(self) -> str:
        """The first rows of sys_load_error_detail, best effort (the load already failed)."""
        try:
            sql = split_sql((SQL_DIR / "load_errors.sql").read_text())[0]
            started = self.api.execute_statement(
                WorkgroupName=self.workgroup, Database=self.database, Sql=sql
            )
            if self.poll(started["Id"], max_polls=30).status != FINISHED:
                return ""
            result = self.api.get_statement_result(Id=started["Id"])
        except Exception:  # never hide the original failure behind this one
            return ""
        names = [c["name"] for c in result.get("ColumnMetadata", [])]
        rows = [
            ", ".join(f"{n}={next(iter(v.values()), '')}" for n, v in zip(names, r, strict=False))
            for r in result.get("Records", [])
        ]
        return ("; first load errors: " + " | ".join(rows)) if rows else ""

    def load(self, request: LoadRequest) -> None:
        self.run(ddl())
        self.run([self.render(s) for s in load_statements(request).statements])
