"""Bulk upserts for the sync's large writes (a page of up to 999 employees, a link's group memberships).

On PostgreSQL one `INSERT ... ON CONFLICT DO UPDATE` statement per chunk, its values quoted by psycopg2's
`mogrify` and sent through Django's cursor (so query logging and test capture still see it): building Django
model instances cost more than the database work for 100,000 people. Other databases use `bulk_create`.
"""
import json
import queue
import threading

from django.db import connection, models, transaction
from psycopg2.extras import Json

CHUNK = 1000


class JsonText(str):
    """A value already encoded as JSON text, stored as it is (the engine encodes each user once, for its hash)."""


def _dumps(value):
    return value if isinstance(value, JsonText) else json.dumps(value, ensure_ascii=False)


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
    names = [meta.get_field(name).column for name in columns]
    is_json = [isinstance(meta.get_field(name), models.JSONField) for name in columns]
    head = (f'INSERT INTO "{meta.db_table}" ({", ".join(f"{n!s}" for n in _quoted(names))}) VALUES ')
    tail = (f' ON CONFLICT ({", ".join(_quoted(meta.get_field(f).column for f in conflict))}) DO UPDATE SET '
            + ", ".join(f"{col} = EXCLUDED.{col}" for col in _quoted(meta.get_field(f).column for f in update)))
    template = "(" + ", ".join(["%s"] * len(columns)) + ")"
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg2's own cursor, for mogrify
        for start in range(0, len(rows), CHUNK):
            values = b",".join(
                raw.mogrify(template, [Json(value, dumps=_dumps) if json_column and value is not None else value
                                       for value, json_column in zip(row, is_json)])
                for row in rows[start:start + CHUNK])
            cursor.execute(head + values.decode() + tail)


def _quoted(names):
    return [f'"{name}"' for name in names]


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
        self.jobs = queue.Queue(maxsize=depth)  # bounded: memory stays flat however fast pages arrive
        self.error = None
        self.thread = threading.Thread(target=self._work, name="sync-writer", daemon=True)
        self.thread.start()

    def submit(self, function, *args, **kwargs) -> None:
        """Queue `function(*args, **kwargs)` to run in a transaction after the batches before it (waiting while
        `depth` are queued); raises the error of an earlier batch, after which nothing more is written."""
        if self.error is not None:
            raise self.error
        self.jobs.put((function, args, kwargs))

    def close(self) -> None:
        """Wait until every queued batch is written; raise the first batch's error, if any."""
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


def writer_for_run(dry_run: bool):
    """A PageWriter when the run may commit page by page on PostgreSQL, else an InlineWriter."""
    if dry_run or connection.vendor != "postgresql" or connection.in_atomic_block:
        return InlineWriter()
    return PageWriter()
