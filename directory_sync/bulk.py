"""Bulk upserts for the sync's large writes (a page of up to 999 employees, a link's group memberships).

On PostgreSQL one `INSERT ... SELECT ... ON CONFLICT DO UPDATE` statement per chunk whose values arrive as one
JSON array per column (encoded by orjson, unpacked by PostgreSQL's `json_array_elements`), sent through
Django's cursor (so query logging and test capture still see it): quoting each value in Python
(`mogrify`) and building Django model instances both cost more than the database work for 100,000 people.
Other databases use `bulk_create`.
"""
import gc
import json
import queue
import threading
from contextlib import contextmanager

import orjson
from django.db import connection, models, transaction

CHUNK = 1000


class JsonText(str):
    """A value already encoded as JSON text, stored as it is (the engine encodes each user once, for its hash)."""


def upsert(model, columns, rows, *, conflict, update) -> None:
    """Insert `rows` (tuples in `columns` order, field names) or, on a `conflict` with an existing row, set its
    `update` fields. Every NOT NULL column must be in `columns`: no model default is applied here."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        objects = [model(**{name: json.loads(value) if isinstance(value, JsonText) else value
                            for name, value in zip(columns, row)}) for row in rows]
        model.objects.bulk_create(objects, update_conflicts=True, unique_fields=conflict, update_fields=update,
                                  batch_size=500)
        return
    meta = model._meta
    fields = [meta.get_field(name) for name in columns]
    names = _quoted(field.column for field in fields)
    # JSON columns arrive as JSON values, the others as text; each is cast to the column's type without a length
    # (an over-long value then fails as an INSERT would, instead of being cut by a cast to varchar(n)).
    kinds = [_kind(field) for field in fields]
    casts = ", ".join(_CASTS.get(kind, "{name}::{type}").format(name=name, type=field.cast_db_type(connection))
                      for name, field, kind in zip(names, fields, kinds))
    unpack = ", ".join(
        "json_array_elements(%s::json)" if kind in _JSON_KINDS else "json_array_elements_text(%s::json)"
        for kind in kinds)
    keys = ", ".join(_quoted(meta.get_field(name).column for name in conflict))
    sets = ", ".join(f"{col} = EXCLUDED.{col}" for col in _quoted(meta.get_field(name).column for name in update))
    sql = (f'INSERT INTO "{meta.db_table}" ({", ".join(names)}) SELECT {casts} FROM ROWS FROM ({unpack}) '
           f'AS rows({", ".join(names)}) ON CONFLICT ({keys}) DO UPDATE SET {sets}')
    with connection.cursor() as cursor:
        for start in range(0, len(rows), CHUNK):
            columns = zip(*rows[start:start + CHUNK])
            cursor.execute(sql, [_json_array(kind, column) for kind, column in zip(kinds, columns)])


# A JSON-as-text column (models.JSONTextField) takes its element's text as sent: no jsonb is built.
_CASTS = {"json": "NULLIF({name}::jsonb, 'null'::jsonb)", "jsontext": "NULLIF({name}::text, 'null')",
          "bytes": "decode({name}, 'hex')"}
_JSON_KINDS = ("json", "jsontext")


def _kind(field) -> str:
    if isinstance(field, models.JSONField):
        return "json"
    if getattr(field, "stores_json_text", False):
        return "jsontext"
    if isinstance(field, models.BinaryField):
        return "bytes"
    return "time" if isinstance(field, (models.DateTimeField, models.DateField)) else "plain"


def _json_array(kind, column) -> str:
    """One column's values as a JSON array: JSON values as themselves (JsonText spliced in as it is), dates as
    ISO 8601 text with their offset, bytes as hex, the rest as JSON scalars. None is null (NULL in the table)."""
    if kind in _JSON_KINDS:
        return "[" + ",".join(value if isinstance(value, JsonText) else orjson.dumps(value).decode()
                              for value in column) + "]"
    if kind == "time":
        column = [None if value is None else value.isoformat() for value in column]
    elif kind == "bytes":
        column = [None if value is None else bytes(value).hex() for value in column]
    return orjson.dumps(list(column)).decode()


def _quoted(names):
    return [f'"{name}"' for name in names]


@contextmanager
def rare_gc():
    """Run the block with Python's cycle collector passing 100 times less often, then restore its thresholds.
    A listing allocates millions of short-lived JSON objects (acyclic: refcounting frees them); at the default
    thresholds the collector ran ~3,700 times in a 100,000-user sync, rescanning the growing heap: ~15% of it."""
    thresholds = gc.get_threshold()
    gc.set_threshold(thresholds[0] * 100, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


def relaxed_commit() -> None:
    """Let PostgreSQL acknowledge this transaction's commit before it reaches the disk. Used for the per-page
    batches only: a batch lost in a crash is written again by the next run, which converges (its delta link is
    saved with a normal, durable commit at the very end)."""
    if connection.vendor == "postgresql" and connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


class PageWriter:
    """Writes batches in order on its own thread and database connection, each in its own transaction, so the
    database's work overlaps with fetching and mapping the next page. Only for callers without an open
    transaction (a dry run or a test keeps every write in its own transaction instead: see `writer_for_run`)."""

    def __init__(self, depth=2):
        # Bounded for pages (memory stays flat however fast they arrive); depth=0 queues without a bound, for
        # batches already held in memory (a link's memberships), so their submitter never waits.
        self.jobs = queue.Queue(maxsize=depth)
        self.error = None
        self.closed = False
        self.thread = threading.Thread(target=self._work, name="sync-writer", daemon=True)
        self.thread.start()

    def submit(self, function, *args, **kwargs) -> None:
        """Queue `function(*args, **kwargs)` to run in a transaction after the batches before it (waiting while
        `depth` are queued); raises the error of an earlier batch, after which nothing more is written."""
        if self.error is not None:
            raise self.error
        self.jobs.put((function, args, kwargs))

    def close(self) -> None:
        """Wait until every queued batch is written; raise the first batch's error, if any. Closing again does
        nothing (the error was raised by the first close)."""
        if self.closed:
            return
        self.closed = True
        self.jobs.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error

    def _work(self):
        try:
            while (job := self.jobs.get()) is not None:
                function, args, kwargs = job
                if self.error is None:
                    try:
                        with transaction.atomic():
                            relaxed_commit()
                            function(*args, **kwargs)
                    except BaseException as exc:  # noqa: BLE001 - handed to the run's thread by submit/close
                        self.error = exc
        finally:
            connection.close()  # this thread's own connection


class InlineWriter:
    """The same interface, writing at once in the caller's connection (dry runs, tests, other databases)."""

    def submit(self, function, *args, **kwargs) -> None:
        with transaction.atomic():
            relaxed_commit()
            function(*args, **kwargs)

    def close(self) -> None:
        pass


# ANALYZE after a bulk load (PostgreSQL's own advice, "Populating a Database"): a table a run changed more of
# than autovacuum's trigger (10% of its rows) plus STATS_MIN_ROWS is analyzed at the end of the run's writes.
# Autovacuum would do it too, but up to a minute later (never, where it is off), and until then the planner
# takes a freshly loaded link for 0.5% of the table: measured on 100,000 employees, each delta page's lookup by
# Graph id read the whole table (136 ms instead of 3 ms) and the duplicate-email check did a 143 ms seq scan.
STATS_MIN_ROWS = 1000
# 300 x this many sampled rows: enough for the sync's and the pages' plans, ~60 ms on 100,000 employees where
# the default target (100) takes ~1 s on their wide JSON rows. Autovacuum later refines them at its own target.
STATS_TARGET = 10


def refresh_statistics(written: dict) -> list[str]:
    """ANALYZE each model's table whose `written` row count is large next to its size (see STATS_MIN_ROWS);
    returns the tables analyzed. Does nothing on other databases."""
    if connection.vendor != "postgresql":
        return []
    analyzed = []
    for model, count in written.items():
        table = model._meta.db_table
        if count < STATS_MIN_ROWS:
            continue
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [table])
            size = max(cursor.fetchone()[0], 0)  # -1: never analyzed
            if count < STATS_MIN_ROWS + size // 10:
                continue
            cursor.execute(f"SET LOCAL default_statistics_target = {STATS_TARGET}")
            cursor.execute(f'ANALYZE "{table}"')
        analyzed.append(table)
    return analyzed


def writer_for_run(dry_run: bool, depth: int = 2):
    """A PageWriter (queueing up to `depth` batches, 0: no bound) when the run may commit batch by batch on
    PostgreSQL, else an InlineWriter."""
    if dry_run or connection.vendor != "postgresql" or connection.in_atomic_block:
        return InlineWriter()
    return PageWriter(depth)
