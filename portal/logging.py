"""Structured logs: every line carries the organisation, link and sync run it is about, when known.

`log_context(org=..., link=..., run=...)` sets the ids for the code it wraps (a request, a task, a sync run);
`ContextFilter` copies them onto each record so the formatter prints `org=acme link=3 run=41`.
"""
import contextlib
import contextvars
import logging

_context: contextvars.ContextVar[dict] = contextvars.ContextVar("signet_log_context", default={})
FIELDS = ("org", "link", "run", "actor")


@contextlib.contextmanager
def log_context(**ids):
    """Add ids (org, link, run, actor) to every log line emitted inside the block."""
    token = _context.set({**_context.get(), **{k: v for k, v in ids.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    def filter(self, record):
        ids = _context.get()
        parts = []
        for name in FIELDS:
            value = getattr(record, name, None) or ids.get(name)
            if value is not None:
                parts.append(f"{name}={value}")
        record.context = " ".join(parts)
        return True
