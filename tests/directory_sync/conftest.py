"""Fixtures of the sync engine tests: a link pointed at the emulator (whose fixtures tests/conftest.py loads from
tests/fixtures_emulator.py), instant Graph waits, and a counter of the rows a block of code writes."""
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from directory_sync import graph
from tests import factories

_WRITE = re.compile(r'^\s*(INSERT INTO|UPDATE|DELETE FROM)\s+"(directory_sync_[a-z]+)"', re.IGNORECASE)
# What a run writes about itself (progress, counts) is bookkeeping, not directory data.
BOOKKEEPING = {"directory_sync_syncrun", "directory_sync_syncsettings"}


class FakeSleep:
    def __init__(self):
        self.calls = []

    def __call__(self, seconds):
        self.calls.append(seconds)


@pytest.fixture
def fake_sleep(monkeypatch):
    sleeper = FakeSleep()
    monkeypatch.setattr(graph, "sleep", sleeper)
    return sleeper


@pytest.fixture
def emu_link(emu, organization, fake_sleep):
    link = factories.make_link(
        organization, name="Contoso", cloud_key="custom", tenant_id=emu.tenant.id,
        own_client_id=emu.own_app.client_id, client_secret=emu.own_app.client_secret,
    )
    yield link
    graph.forget_link(link)


class WriteCounter:
    """Directory rows written inside the block, by statement: {table: statements}."""

    def __init__(self):
        self.tables = {}

    def __enter__(self):
        self._context = CaptureQueriesContext(connection)
        self._context.__enter__()
        return self

    def __exit__(self, *exc):
        self._context.__exit__(*exc)
        for query in self._context.captured_queries:
            match = _WRITE.match(query["sql"])
            if match and match.group(2) not in BOOKKEEPING:
                self.tables[match.group(2)] = self.tables.get(match.group(2), 0) + 1

    @property
    def statements(self):
        return sum(self.tables.values())


@pytest.fixture
def count_writes():
    return WriteCounter
