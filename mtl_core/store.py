"""The run store: one SQLite file (WAL mode) that is the contract between workers and every front end.

Workers write runs, metrics, conflict statistics, events and checkpoints; the dashboard and the CLI
only read. Writes from a training loop go through `MetricWriter`, which batches rows and commits at
least every `flush_seconds`, so a dead worker loses at most about a second of metrics.
"""
from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from mtl_core.errors import StorageError, StorageWriteError, file_error, os_error_reason
from mtl_core.jsonable import finite_or_none

if TYPE_CHECKING:  # pandas is imported where a query needs it: submitting a run must stay fast
    import pandas as pd


SCHEMA_VERSION = 5
RUN_STATUSES = ("queued", "running", "completed", "cancelled", "interrupted", "diverged", "failed")
FINISHED_STATUSES = ("completed", "cancelled", "interrupted", "diverged", "failed")
RESUMABLE_STATUSES = ("cancelled", "interrupted")

# Each migration takes the schema from version i to i + 1; the first one creates everything.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE experiments (
        id TEXT PRIMARY KEY,
        created_at REAL NOT NULL,
        name TEXT NOT NULL DEFAULT '',
        kind TEXT NOT NULL DEFAULT 'experiment',      -- experiment | sweep | map
        spec_json TEXT NOT NULL,
        backend TEXT NOT NULL DEFAULT 'local'
    );
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        experiment_id TEXT NOT NULL REFERENCES experiments(id),
        position INTEGER NOT NULL,                    -- order within the experiment
        kind TEXT NOT NULL,                           -- mtl | stl
        tasks_json TEXT NOT NULL,
        seed INTEGER NOT NULL,
        spec_json TEXT NOT NULL,                      -- the RunSpec
        status TEXT NOT NULL DEFAULT 'queued',
        step INTEGER NOT NULL DEFAULT 0,
        total_steps INTEGER,
        created_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL,
        heartbeat_at REAL,
        device TEXT,
        environment_json TEXT,                        -- library versions, threads, autocast
        error TEXT,
        worker_pid INTEGER,
        worker_host TEXT,
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        log_path TEXT,
        result_json TEXT                              -- final test metrics per task
    );
    CREATE INDEX runs_by_experiment ON runs(experiment_id, position);
    CREATE INDEX runs_by_status ON runs(status, created_at);
    CREATE TABLE metrics (
        run_id TEXT NOT NULL,
        step INTEGER NOT NULL,
        task TEXT NOT NULL,                           -- '' for run-level series
        split TEXT NOT NULL,                          -- train | validation | test
        name TEXT NOT NULL,                           -- loss, accuracy, span_f1, grad_norm, soft_distance, ...
        value REAL,
        PRIMARY KEY (run_id, step, task, split, name)
    ) WITHOUT ROWID;
    CREATE TABLE conflict (
        run_id TEXT NOT NULL,
        step INTEGER NOT NULL,
        layer TEXT NOT NULL,                          -- 'all' = the whole shared trunk, else a layer name
        task_a TEXT NOT NULL,
        task_b TEXT NOT NULL,                         -- task_a == task_b: same-task noise floor
        cos REAL,
        magnitude_sim REAL,
        PRIMARY KEY (run_id, step, layer, task_a, task_b)
    ) WITHOUT ROWID;
    CREATE TABLE affinity (
        run_id TEXT NOT NULL,
        step INTEGER NOT NULL,
        source TEXT NOT NULL,                         -- the task whose lookahead step was taken
        target TEXT NOT NULL,                         -- the task whose loss was measured
        z REAL,
        PRIMARY KEY (run_id, step, source, target)
    ) WITHOUT ROWID;
    CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL,
        at REAL NOT NULL,
        level TEXT NOT NULL,
        message TEXT NOT NULL
    );
    CREATE INDEX events_by_run ON events(run_id, id);
    CREATE TABLE checkpoints (
        run_id TEXT NOT NULL,
        kind TEXT NOT NULL,                           -- last | best
        step INTEGER NOT NULL,
        path TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (run_id, kind)
    );
    """,
    # 2: pooled representations of shared probe inputs (CKA between runs' encoders)
    """
    CREATE TABLE representations (
        run_id TEXT NOT NULL,
        name TEXT NOT NULL,                           -- encoder name: 'shared' or a task id (soft sharing)
        rows INTEGER NOT NULL,
        columns INTEGER NOT NULL,
        data BLOB NOT NULL,                           -- float32, row-major
        PRIMARY KEY (run_id, name)
    );
    """,
    # 3: options of an experiment beyond its spec (a map's include_all/cheap/max_groups, a grouping check's
    #    arms); experiments.kind may now also be 'grouping' (mtl_core/relmap.py)
    """
    ALTER TABLE experiments ADD COLUMN options_json TEXT;
    """,
    # 4: generation tasks: the outputs of fixed validation examples at each evaluation (what the Runs page
    #    shows beside the references), and how each metric was computed (sacrebleu's signature)
    """
    CREATE TABLE generation_samples (
        run_id TEXT NOT NULL,
        step INTEGER NOT NULL,
        task TEXT NOT NULL,
        split TEXT NOT NULL,                          -- validation (each evaluation)
        position INTEGER NOT NULL,                    -- the example's row in its split: equal across the runs
        source TEXT NOT NULL,                         --   of an experiment (the same seeded subset)
        reference TEXT NOT NULL,
        output TEXT NOT NULL,
        PRIMARY KEY (run_id, step, task, split, position)
    ) WITHOUT ROWID;
    CREATE TABLE metric_signatures (
        run_id TEXT NOT NULL,
        task TEXT NOT NULL,
        split TEXT NOT NULL,
        name TEXT NOT NULL,                           -- bleu, chrf
        signature TEXT NOT NULL,                      -- e.g. nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.5.1
        PRIMARY KEY (run_id, task, split, name)
    ) WITHOUT ROWID;
    """,
    # 5: the linearised lookahead affinity (first-order Z from the Gram of the per-task gradients, Grad-TAG's idea):
    #    recorded at every conflict step of a run with one shared trunk, beside the exact lookahead of `affinity`
    """
    CREATE TABLE linear_affinity (
        run_id TEXT NOT NULL,
        step INTEGER NOT NULL,
        source TEXT NOT NULL,                         -- the task whose gradient step is linearised
        target TEXT NOT NULL,                         -- the task whose loss change is estimated
        z REAL,
        PRIMARY KEY (run_id, step, source, target)
    ) WITHOUT ROWID;
    """
]


def new_id(prefix: str) -> str:
    return f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"


class Store:
    """A handle on one store file. Cheap to create; one SQLite connection per thread.

    `readonly=True` never writes (no file is created, no schema is migrated; a store not created yet reads as
    empty): for the commands and pages that only read, so that a read-only store or data home still shows its
    runs. A read-write handle writes only when asked to (it migrates only a schema that is behind), and one
    whose folder cannot hold SQLite's side files (a read-only or full data home) still reads; its writes then
    say why they fail.
    Every SQLite or file error of opening, migrating and writing is a StorageError naming the file.
    """

    def __init__(self, path: str | os.PathLike | None = None, *, timeout: float = 30.0, readonly: bool = False):
        from mtl_core.paths import default_store_path

        self.path = Path(path) if path else default_store_path()
        self.timeout = timeout
        self.readonly = readonly
        self.unwritable_because: str | None = None  # set when the folder refused SQLite's side files
        self._local = threading.local()
        if self.path.is_dir():
            raise StorageError(f"store: {self.path} is a directory, not a store file (give --store a file, "
                               f"e.g. {self.path / 'runs.sqlite'})", path=self.path)
        if not readonly and not self.path.exists():
            self._create_file()
        self.migrate()  # opens the connection: a file that is not a store fails here, by name

    def _create_file(self) -> None:
        """An empty file is an empty SQLite database; creating it ourselves gives the real reason it cannot be."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "ab"):
                pass
        except OSError as exc:
            raise _as_store_error(file_error(exc, doing="create the store")) from None

    # ---- connection and schema ----------------------------------------------------------------
    @property
    def connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = self._connect()
            self._local.conn = conn
            self._local.pid = os.getpid()
        return conn

    def _connect(self) -> sqlite3.Connection:
        if self.readonly:
            return self._connect_readonly() if self.path.exists() else self._connect_empty()
        try:
            conn = self._configure(sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None))
            self._enable_wal(conn)
            return conn
        except sqlite3.OperationalError as exc:
            if not _side_files_refused(exc):
                raise
        # The folder cannot hold the -wal / -shm files (read-only or full): read without them, and let
        # writes say why they cannot happen.
        self.unwritable_because = _why_folder_refuses_writes(self.path)
        return self._connect_readonly()

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        """PRAGMA journal_mode=WAL does not wait on SQLite's busy timeout: while another process is creating
        the same new store it fails at once with "database is locked" (two `map` or `submit` commands started
        together), so it is retried for as long as any other write would wait."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def _connect_readonly(self) -> sqlite3.Connection:
        uri = self.path.resolve().as_uri()
        try:
            conn = self._configure(sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=self.timeout,
                                                   isolation_level=None))
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return conn
        except sqlite3.OperationalError as exc:
            if not _side_files_refused(exc):
                raise
        # mode=ro still needs a -shm file it can size; where the folder does not allow it, nobody can be
        # writing the store either (a writer would have made it), so reading it as immutable is exact.
        return self._configure(sqlite3.connect(f"{uri}?immutable=1", uri=True, timeout=self.timeout,
                                               isolation_level=None))

    def _connect_empty(self) -> sqlite3.Connection:
        """A store not created yet reads as an empty one without being created: the schema in memory, query-only."""
        conn = self._configure(sqlite3.connect(":memory:", isolation_level=None))
        conn.executescript("".join(MIGRATIONS))
        conn.executescript("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                           f"INSERT INTO meta VALUES ('schema_version', '{SCHEMA_VERSION}');")
        conn.execute("PRAGMA query_only=ON")
        return conn

    def _configure(self, conn: sqlite3.Connection) -> sqlite3.Connection:
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout={int(self.timeout * 1000)}")
        if not self.readonly:
            conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    @contextmanager
    def mapped_errors(self) -> Iterator[None]:
        """SQLite errors inside the block become one-line StorageErrors naming this store."""
        try:
            yield
        except sqlite3.Error as exc:
            raise store_error(exc, self.path, self.unwritable_because) from exc

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE takes the write lock up front, so concurrent writers wait instead of failing.

        A failed write (a full disk, a read-only store) is rolled back and raised as a StorageWriteError;
        SQLite may already have rolled it back itself, and the connection stays usable for the next try.
        """
        with self.mapped_errors():
            conn = self.connection
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def migrate(self) -> None:
        """Bring the schema to SCHEMA_VERSION; a store already there is not written to."""
        with self.mapped_errors():
            version = self._stored_schema_version()
            if version > SCHEMA_VERSION:
                raise StorageError(f"store: {self.path} has schema version {version}, newer than this MTL Explorer "
                                   f"({SCHEMA_VERSION}); upgrade MTL Explorer or use another --store", path=self.path)
            if version == SCHEMA_VERSION:
                return
            if self.readonly:
                what = "holds no runs yet" if version == 0 else f"has the older schema version {version}"
                raise StorageError(f"store: {self.path} {what}; opening it read-only cannot upgrade it (any command "
                                   f"that writes, such as `status`, does)", path=self.path)
        with self.transaction() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            version = self._stored_schema_version()  # another process may have migrated it meanwhile
            for script in MIGRATIONS[version:]:
                for statement in script.split(";"):
                    if statement.strip():
                        conn.execute(statement)
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    def _stored_schema_version(self) -> int:
        conn = self.connection
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone():
            return 0
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row["value"]) if row else 0

    def schema_version(self) -> int:
        return int(self.connection.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0])

    # ---- experiments and runs -----------------------------------------------------------------
    def create_experiment(self, spec_json: str, runs: Iterable[dict[str, Any]], *, name: str = "",
                          kind: str = "experiment", backend: str = "local") -> tuple[str, list[str]]:
        """Record an experiment and its runs (status queued) in one transaction; returns (id, run ids).

        Each run dict has kind, tasks, seed, spec_json and optionally total_steps.
        """
        experiment_id = new_id("exp")
        now = time.time()
        run_ids = []
        with self.transaction() as conn:
            conn.execute("INSERT INTO experiments(id, created_at, name, kind, spec_json, backend) VALUES (?,?,?,?,?,?)",
                         (experiment_id, now, name, kind, spec_json, backend))
            for position, run in enumerate(runs):
                run_id = new_id("run")
                run_ids.append(run_id)
                conn.execute(
                    "INSERT INTO runs(id, experiment_id, position, kind, tasks_json, seed, spec_json, status, "
                    "total_steps, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (run_id, experiment_id, position, run["kind"], json.dumps(run["tasks"]), run["seed"],
                     run["spec_json"], "queued", run.get("total_steps"), now + position * 1e-6))
        return experiment_id, run_ids

    def experiment(self, experiment_id: str) -> dict[str, Any] | None:
        row = self.connection.execute("SELECT * FROM experiments WHERE id = ?", (experiment_id,)).fetchone()
        return dict(row) if row else None

    def set_experiment_options(self, experiment_id: str, options: dict[str, Any]) -> None:
        """Record how an experiment was built (e.g. a map's options), as JSON next to its spec."""
        with self.transaction() as conn:
            conn.execute("UPDATE experiments SET options_json = ? WHERE id = ?",
                         (json.dumps(options, sort_keys=True), experiment_id))

    def experiment_options(self, experiment_id: str) -> dict[str, Any]:
        """The options recorded with set_experiment_options ({} when none)."""
        row = self.connection.execute("SELECT options_json FROM experiments WHERE id = ?", (experiment_id,)).fetchone()
        return json.loads(row[0]) if row and row[0] else {}

    def experiments(self, limit: int | None = None) -> "pd.DataFrame":
        """Every experiment, newest first, with run counts per status."""
        sql = """
            SELECT e.id, e.created_at, e.name, e.kind, e.backend, e.spec_json,
                   COUNT(r.id) AS runs,
                   SUM(r.status = 'completed') AS completed,
                   SUM(r.status = 'running') AS running,
                   SUM(r.status = 'queued') AS queued,
                   SUM(r.status IN ('failed', 'diverged', 'interrupted', 'cancelled')) AS stopped
            FROM experiments e LEFT JOIN runs r ON r.experiment_id = e.id
            GROUP BY e.id ORDER BY e.created_at DESC"""
        if limit:
            sql += f" LIMIT {int(limit)}"
        return _read_sql(sql, self.connection)

    def run(self, run_id: str) -> dict[str, Any] | None:
        row = self.connection.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return _run_dict(row) if row else None

    def latest_experiment_id(self) -> str | None:
        row = self.connection.execute("SELECT id FROM experiments ORDER BY created_at DESC LIMIT 1").fetchone()
        return row[0] if row else None

    def run_record(self, run_id: str) -> dict[str, Any] | None:
        """A run's row as stored (JSON columns undecoded): what `insert_relayed_run` takes on another node."""
        row = self.connection.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return dict(row) if row else None

    def insert_relayed_run(self, record: dict[str, Any], backend: str) -> None:
        """A run (from `run_record`) and a placeholder of its experiment in this store, queued to be trained."""
        now = time.time()
        with self.transaction() as conn:
            conn.execute("INSERT INTO experiments(id, created_at, spec_json, backend) VALUES (?,?,?,?)",
                         (record["experiment_id"], now, "{}", backend))
            conn.execute("INSERT INTO runs(id, experiment_id, position, kind, tasks_json, seed, spec_json, status, "
                         "step, total_steps, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                         (record["id"], record["experiment_id"], record["position"], record["kind"],
                          record["tasks_json"], record["seed"], record["spec_json"], "queued", record["step"],
                          record["total_steps"], now))

    def runs(self, experiment_id: str | None = None, statuses: Iterable[str] | None = None) -> list[dict[str, Any]]:
        sql, params = "SELECT * FROM runs WHERE 1=1", []
        if experiment_id:
            sql += " AND experiment_id = ?"
            params.append(experiment_id)
        if statuses:
            statuses = list(statuses)
            sql += f" AND status IN ({','.join('?' * len(statuses))})"
            params.extend(statuses)
        sql += " ORDER BY created_at, position"
        return [_run_dict(r) for r in self.connection.execute(sql, params)]

    def update_run(self, run_id: str, **values: Any) -> None:
        if not values:
            return
        for key in ("environment", "result"):
            if key in values:
                values[f"{key}_json"] = json.dumps(values.pop(key))
        columns = ", ".join(f"{k} = ?" for k in values)
        with self.transaction() as conn:
            conn.execute(f"UPDATE runs SET {columns} WHERE id = ?", (*values.values(), run_id))

    def claim_run(self, run_id: str, *, pid: int, host: str = "") -> bool:
        """Atomically move a queued run to running; False if someone else got it or it was cancelled."""
        now = time.time()
        with self.transaction() as conn:
            cur = conn.execute(
                "UPDATE runs SET status='running', started_at=COALESCE(started_at, ?), heartbeat_at=?, worker_pid=?, "
                "worker_host=?, error=NULL, finished_at=NULL WHERE id=? AND status='queued'",
                (now, now, pid, host, run_id))
            return cur.rowcount == 1

    def request_cancel(self, run_id: str) -> str:
        """Queued runs are cancelled at once; running ones are asked to stop at their next step."""
        with self.transaction() as conn:
            row = conn.execute("SELECT status FROM runs WHERE id=?", (run_id,)).fetchone()
            if row is None:
                from mtl_core.errors import UserError

                raise UserError(f"cancel: no run '{run_id}' in {self.path}")
            if row["status"] == "queued":
                conn.execute("UPDATE runs SET status='cancelled', finished_at=? WHERE id=?", (time.time(), run_id))
                return "cancelled"
            if row["status"] == "running":
                conn.execute("UPDATE runs SET cancel_requested=1 WHERE id=?", (run_id,))
                return "cancelling"
            return row["status"]

    def requeue_run(self, run_id: str) -> bool:
        """Resume: an interrupted or cancelled run goes back to queued (its checkpoints stay); False otherwise."""
        with self.transaction() as conn:
            cur = conn.execute(
                "UPDATE runs SET status='queued', cancel_requested=0, error=NULL, finished_at=NULL, worker_pid=NULL "
                "WHERE id=? AND status IN ('cancelled', 'interrupted')", (run_id,))
            return cur.rowcount == 1

    def finish_if_running(self, run_id: str, status: str, *, error: str | None = None,
                          pid: int | None = None) -> bool:
        """Set a final status only if the run is still running (and still owned by `pid` when given).

        Used by schedulers and liveness checks, so that a worker finishing at the same moment wins.
        """
        sql = "UPDATE runs SET status=?, error=COALESCE(?, error), finished_at=? WHERE id=? AND status='running'"
        params: list[Any] = [status, error, time.time(), run_id]
        if pid is not None:
            sql += " AND worker_pid=?"
            params.append(pid)
        with self.transaction() as conn:
            return conn.execute(sql, params).rowcount == 1

    def fail_if_queued(self, run_id: str, error: str) -> bool:
        """A run whose worker could not even start fails with `error`, unless someone claimed it meanwhile."""
        with self.transaction() as conn:
            return conn.execute("UPDATE runs SET status='failed', error=?, finished_at=? WHERE id=? AND status='queued'",
                                (error, time.time(), run_id)).rowcount == 1

    def beat(self, run_id: str, pid: int | None = None) -> bool:
        """A heartbeat of a running run (of the worker `pid` when given), whether or not it made progress."""
        sql, params = "UPDATE runs SET heartbeat_at=? WHERE id=? AND status='running'", [time.time(), run_id]
        if pid is not None:
            sql += " AND worker_pid=?"
            params.append(pid)
        with self.transaction() as conn:
            return conn.execute(sql, params).rowcount == 1

    def runs_for_backend(self, backend: str, statuses: Iterable[str]) -> list[dict[str, Any]]:
        """Runs of experiments submitted to one backend, oldest first (the queue order)."""
        statuses = list(statuses)
        sql = (f"SELECT r.* FROM runs r JOIN experiments e ON e.id = r.experiment_id WHERE e.backend = ? "
               f"AND r.status IN ({','.join('?' * len(statuses))}) ORDER BY r.created_at, r.position")
        return [_run_dict(r) for r in self.connection.execute(sql, (backend, *statuses))]

    def cancel_requested(self, run_id: str) -> bool:
        row = self.connection.execute("SELECT cancel_requested FROM runs WHERE id=?", (run_id,)).fetchone()
        return bool(row and row[0])

    # ---- series -------------------------------------------------------------------------------
    def write_rows(self, metrics: list[tuple] = (), conflict: list[tuple] = (), affinity: list[tuple] = (),
                   heartbeat: tuple[str, int] | None = None, samples: list[tuple] = (),
                   signatures: list[tuple] = (), linear_affinity: list[tuple] = ()) -> None:
        """One transaction for a batch of rows; re-written rows (after a resume) replace the old ones."""
        with self.transaction() as conn:
            if samples:
                conn.executemany("INSERT OR REPLACE INTO generation_samples VALUES (?,?,?,?,?,?,?,?)", samples)
            if signatures:
                conn.executemany("INSERT OR REPLACE INTO metric_signatures VALUES (?,?,?,?,?)", signatures)
            if metrics:
                conn.executemany("INSERT OR REPLACE INTO metrics VALUES (?,?,?,?,?,?)", metrics)
            if conflict:
                conn.executemany("INSERT OR REPLACE INTO conflict VALUES (?,?,?,?,?,?,?)", conflict)
            if affinity:
                conn.executemany("INSERT OR REPLACE INTO affinity VALUES (?,?,?,?,?)", affinity)
            if linear_affinity:
                conn.executemany("INSERT OR REPLACE INTO linear_affinity VALUES (?,?,?,?,?)", linear_affinity)
            if heartbeat:
                run_id, step = heartbeat
                conn.execute("UPDATE runs SET heartbeat_at=?, step=MAX(step, ?) WHERE id=?", (time.time(), step, run_id))

    def truncate_after(self, run_id: str, step: int) -> None:
        """Before resuming from a checkpoint at `step`, drop rows the resumed run will write again (step -1: a clean
        restart drops them all). The run's step, the steps it has done, is never below 0."""
        with self.transaction() as conn:
            for table in ("metrics", "conflict", "affinity", "linear_affinity", "generation_samples"):
                conn.execute(f"DELETE FROM {table} WHERE run_id=? AND step>?", (run_id, step))
            conn.execute("UPDATE runs SET step=? WHERE id=?", (max(step, 0), run_id))

    def metrics(self, run_ids: Iterable[str], names: Iterable[str] | None = None) -> "pd.DataFrame":
        return self._series("metrics", run_ids, "name", names)

    def has_metrics(self, run_ids: Iterable[str]) -> bool:
        """Whether any of these runs has recorded a metric row (one indexed lookup, not the series)."""
        run_ids = list(run_ids)
        if not run_ids:
            return False
        row = self.connection.execute(
            f"SELECT 1 FROM metrics WHERE run_id IN ({','.join('?' * len(run_ids))}) LIMIT 1", run_ids).fetchone()
        return row is not None

    def conflict(self, run_ids: Iterable[str], layers: Iterable[str] | None = None) -> "pd.DataFrame":
        return self._series("conflict", run_ids, "layer", layers)

    def affinity(self, run_ids: Iterable[str]) -> "pd.DataFrame":
        return self._series("affinity", run_ids, None, None)

    def linear_affinity(self, run_ids: Iterable[str]) -> "pd.DataFrame":
        """The linearised lookahead affinity: columns run_id, step, source, target, z (as `affinity`)."""
        return self._series("linear_affinity", run_ids, None, None)

    def generation_samples(self, run_ids: Iterable[str], task: str | None = None,
                           latest: bool = True) -> "pd.DataFrame":
        """Generation tasks' sample outputs: columns run_id, step, task, split, position, source, reference,
        output, ordered by run, task, step and position. With `latest`, only each run's and task's last recorded
        evaluation (the live table of a running run). Runs of one experiment decode the same validation
        examples, so a multi-task run's rows and its baseline's match on (task, position)."""
        run_ids = list(run_ids)
        where = f"run_id IN ({','.join('?' * len(run_ids))})" if run_ids else "0"
        params: list[Any] = list(run_ids)
        if task is not None:
            where += " AND task = ?"
            params.append(task)
        if latest:
            where += (" AND step = (SELECT MAX(step) FROM generation_samples AS s WHERE s.run_id = generation_samples"
                      ".run_id AND s.task = generation_samples.task AND s.split = generation_samples.split)")
        return _read_sql(f"SELECT * FROM generation_samples WHERE {where} ORDER BY run_id, task, step, position",
                         self.connection, params=params)

    def metric_signatures(self, run_ids: Iterable[str]) -> "pd.DataFrame":
        """How each generation metric was computed: columns run_id, task, split, name, signature."""
        run_ids = list(run_ids)
        where = f"run_id IN ({','.join('?' * len(run_ids))})" if run_ids else "0"
        return _read_sql(f"SELECT * FROM metric_signatures WHERE {where} ORDER BY run_id, task, split, name",
                         self.connection, params=run_ids)

    def _series(self, table: str, run_ids, column: str | None, values) -> "pd.DataFrame":
        run_ids = list(run_ids)
        if not run_ids:
            return _read_sql(f"SELECT * FROM {table} WHERE 0", self.connection)
        sql = f"SELECT * FROM {table} WHERE run_id IN ({','.join('?' * len(run_ids))})"
        params: list[Any] = list(run_ids)
        if column and values is not None:
            values = list(values)
            sql += f" AND {column} IN ({','.join('?' * len(values))})"
            params.extend(values)
        return _read_sql(sql + " ORDER BY run_id, step", self.connection, params=params)

    # ---- events (the run's log) and checkpoints -----------------------------------------------
    def log(self, run_id: str, message: str, level: str = "info") -> None:
        with self.transaction() as conn:
            conn.execute("INSERT INTO events(run_id, at, level, message) VALUES (?,?,?,?)",
                         (run_id, time.time(), level, message))

    def events(self, run_id: str, after_id: int = 0) -> "pd.DataFrame":
        return _read_sql("SELECT * FROM events WHERE run_id=? AND id>? ORDER BY id", self.connection,
                                 params=(run_id, after_id))

    def recent_events(self, run_id: str, limit: int) -> "pd.DataFrame":
        """The last `limit` events of a run, oldest first (a page shows the end of a long log)."""
        return _read_sql("SELECT * FROM (SELECT * FROM events WHERE run_id=? ORDER BY id DESC LIMIT ?) ORDER BY id",
                         self.connection, params=(run_id, int(limit)))

    def save_checkpoint_record(self, run_id: str, kind: str, step: int, path: str) -> None:
        with self.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO checkpoints VALUES (?,?,?,?,?)", (run_id, kind, step, path, time.time()))

    def checkpoint(self, run_id: str, kind: str = "last") -> dict[str, Any] | None:
        row = self.connection.execute("SELECT * FROM checkpoints WHERE run_id=? AND kind=?", (run_id, kind)).fetchone()
        return dict(row) if row else None

    def checkpoints(self, statuses: Iterable[str] | None = None,
                    finished_before: float | None = None) -> list[dict[str, Any]]:
        """Checkpoint records with their run's status and finished_at, oldest run first; only runs in `statuses`
        and finished before `finished_before` (a time.time()) when given. Each has `bytes`: the file's size,
        0 when the file is gone."""
        sql = ("SELECT c.*, r.status, r.finished_at, r.experiment_id FROM checkpoints c JOIN runs r ON r.id = c.run_id "
               "WHERE 1=1")
        params: list[Any] = []
        if statuses is not None:
            statuses = list(statuses)
            sql += f" AND r.status IN ({','.join('?' * len(statuses))})"
            params.extend(statuses)
        if finished_before is not None:
            sql += " AND r.finished_at IS NOT NULL AND r.finished_at < ?"
            params.append(finished_before)
        rows = [dict(r) for r in self.connection.execute(sql + " ORDER BY r.finished_at, c.run_id, c.kind", params)]
        for row in rows:
            row["bytes"] = _file_size(Path(row["path"]))
        return rows

    def delete_checkpoint(self, run_id: str, kind: str = "last") -> int:
        """Remove a run's checkpoint record and its file (record first: a resume never finds a record of a file
        being deleted); returns the bytes freed."""
        record = self.checkpoint(run_id, kind)
        if record is None:
            return 0
        with self.transaction() as conn:
            conn.execute("DELETE FROM checkpoints WHERE run_id=? AND kind=?", (run_id, kind))
        path = Path(record["path"])
        size = _file_size(path)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise file_error(exc, path, doing="delete the checkpoint") from None
        return size

    def disk_usage(self) -> dict[str, int]:
        """Bytes the store takes on disk: {"database": the SQLite file with its -wal / -shm files,
        "checkpoints": the checkpoint files it records, "artifacts": everything in its artifacts folder
        (checkpoints, run logs), "total": database + artifacts}."""
        database = sum(_file_size(self.path.with_name(self.path.name + suffix)) for suffix in ("", "-wal", "-shm"))
        checkpoints = sum(_file_size(Path(r["path"]))
                          for r in self.connection.execute("SELECT path FROM checkpoints"))
        folder = self.path.with_name(self.path.stem + "-artifacts")
        artifacts = 0
        if folder.is_dir():
            for root, _, files in os.walk(folder):
                artifacts += sum(_file_size(Path(root) / name) for name in files)
        return {"database": database, "checkpoints": checkpoints, "artifacts": artifacts,
                "total": database + artifacts}

    def save_representation(self, run_id: str, name: str, matrix) -> None:
        import numpy as np

        matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        with self.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO representations VALUES (?,?,?,?,?)",
                         (run_id, name, matrix.shape[0], matrix.shape[1], matrix.tobytes()))

    def representations(self, run_ids: Iterable[str]) -> dict[tuple[str, str], Any]:
        """{(run_id, encoder name): (n_probe, hidden) float32 array}."""
        import numpy as np

        run_ids = list(run_ids)
        if not run_ids:
            return {}
        rows = self.connection.execute(
            f"SELECT * FROM representations WHERE run_id IN ({','.join('?' * len(run_ids))})", run_ids)
        return {(r["run_id"], r["name"]): np.frombuffer(r["data"], dtype=np.float32).reshape(r["rows"], r["columns"])
                for r in rows}

    def artifacts_dir(self, run_id: str) -> Path:
        """Checkpoints and logs of a run live next to the store file."""
        path = self.path.with_name(self.path.stem + "-artifacts") / run_id
        path.mkdir(parents=True, exist_ok=True)
        return path


# SQLite result codes of a write refused by where the store is (nothing stored is damaged; it can succeed later).
_WRITE_REFUSED = {
    "SQLITE_FULL": "the disk is full (database or disk is full); free some space, then try again",
    "SQLITE_READONLY": "it is read-only (attempt to write a readonly database); make the file and its folder "
                       "writable, or use another --store",
    "SQLITE_IOERR": "a write to the disk failed (disk I/O error: a full disk, a file-size limit or a failing device)",
    "SQLITE_BUSY": "another process holds it locked (database is locked); try again",
    "SQLITE_LOCKED": "another process holds it locked (database table is locked); try again",
}


def store_error(exc: sqlite3.Error, path: Path, unwritable_because: str | None = None) -> StorageError:
    """One line naming the store and what is wrong with it, for any SQLite error."""
    code = getattr(exc, "sqlite_errorname", None) or ""
    family = next((name for name in _WRITE_REFUSED if code.startswith(name)), None)
    if family == "SQLITE_READONLY" and unwritable_because:
        return StorageWriteError(f"store: cannot write {path}: {unwritable_because}", path=path)
    if family:
        return StorageWriteError(f"store: cannot write {path}: {_WRITE_REFUSED[family]}", path=path)
    if code == "SQLITE_NOTADB":
        return StorageError(f"store: {path} is not a run store (file is not a database); give --store a store "
                            f"file or a new path", path=path)
    if code.startswith("SQLITE_CORRUPT"):
        return StorageError(f"store: {path} is damaged (database disk image is malformed: truncated or overwritten); "
                            f"restore it from a copy, or give --store a new path", path=path)
    if code.startswith("SQLITE_CANTOPEN"):
        return StorageError(f"store: cannot open {path} (unable to open database file: is it or its folder "
                            f"unreadable?)", path=path)
    return StorageError(f"store: {path}: {exc}", path=path)


def _as_store_error(error: StorageError) -> StorageError:
    return type(error)(f"store: {error}", path=error.path)


def _side_files_refused(exc: sqlite3.OperationalError) -> bool:
    """SQLite could not create or size the store's -wal / -shm files (a read-only or full folder)."""
    code = exc.sqlite_errorname or ""
    return code == "SQLITE_CANTOPEN" or code.startswith("SQLITE_IOERR_SHM")


def _why_folder_refuses_writes(path: Path) -> str:
    """Why SQLite could not create its side files next to `path`: the OS's own answer for a 1-byte file there."""
    probe = path.with_name(f".{path.name}.{os.getpid()}.write-probe")
    try:
        with open(probe, "wb") as fh:
            fh.write(b"\0")
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        return f"its folder {path.parent} takes no new files: {os_error_reason(exc)}"
    finally:
        try:
            probe.unlink(missing_ok=True)
        except OSError:  # a read-only folder: the probe was never created
            pass
    return f"its folder {path.parent} does not let SQLite create {path.name}-wal and {path.name}-shm"


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _read_sql(sql: str, connection: sqlite3.Connection, params=None) -> "pd.DataFrame":
    import pandas as pd

    return pd.read_sql_query(sql, connection, params=params)


def _run_dict(row: sqlite3.Row) -> dict[str, Any]:
    run = dict(row)
    run["tasks"] = json.loads(run.pop("tasks_json"))
    for key in ("environment", "result"):
        raw = run.pop(f"{key}_json")
        run[key] = json.loads(raw) if raw else None
    return run


class MetricWriter:
    """Buffers a training loop's rows and flushes them in one transaction at most every `flush_seconds`; a run's
    first metric rows are written at the step they are recorded (the Runs page waits for a first point)."""

    def __init__(self, store: Store, run_id: str, flush_seconds: float = 0.5):
        self.store = store
        self.run_id = run_id
        self.flush_seconds = flush_seconds
        self._metrics: list[tuple] = []
        self._conflict: list[tuple] = []
        self._affinity: list[tuple] = []
        self._linear_affinity: list[tuple] = []
        self._samples: list[tuple] = []
        self._signatures: list[tuple] = []
        self._last_flush = time.monotonic()
        self._step = 0
        self._first_point_written = False

    def metric(self, step: int, task: str, split: str, name: str, value: float) -> None:
        self._metrics.append((self.run_id, step, task, split, name, finite_or_none(value)))

    def conflict(self, step: int, layer: str, task_a: str, task_b: str, cos: float, magnitude_sim: float) -> None:
        self._conflict.append((self.run_id, step, layer, task_a, task_b, finite_or_none(cos),
                               finite_or_none(magnitude_sim)))

    def affinity(self, step: int, source: str, target: str, z: float) -> None:
        self._affinity.append((self.run_id, step, source, target, finite_or_none(z)))

    def linear_affinity(self, step: int, source: str, target: str, z: float) -> None:
        self._linear_affinity.append((self.run_id, step, source, target, finite_or_none(z)))

    def samples(self, step: int, task: str, split: str, rows) -> None:
        """A generation task's outputs at one evaluation: rows of (position, source, reference, output)."""
        self._samples += [(self.run_id, step, task, split, int(position), str(source), str(reference), str(output))
                          for position, source, reference, output in rows]

    def signature(self, task: str, split: str, name: str, text: str) -> None:
        self._signatures.append((self.run_id, task, split, name, str(text)))

    def tick(self, step: int) -> None:
        """Called once per training step: flushes (and beats the heartbeat) when enough time has passed."""
        self._step = step
        if (self._metrics and not self._first_point_written) or time.monotonic() - self._last_flush >= self.flush_seconds:
            self.flush()

    def flush(self) -> None:
        self._first_point_written = self._first_point_written or bool(self._metrics)
        self.store.write_rows(self._metrics, self._conflict, self._affinity, heartbeat=(self.run_id, self._step),
                              samples=self._samples, signatures=self._signatures,
                              linear_affinity=self._linear_affinity)
        self._metrics, self._conflict, self._affinity, self._samples, self._signatures = [], [], [], [], []
        self._linear_affinity = []
        self._last_flush = time.monotonic()
