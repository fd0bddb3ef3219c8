"""200,000 users generate and list end to end at $top=999 (marked slow)."""
import time

import pytest

from entra_emulator import testing


@pytest.mark.slow
def test_200k_users_generate_and_list_at_top_999(tmp_path, capsys):
    started = time.monotonic()
    with testing.Emulator(data_dir=tmp_path, users=200_000, groups=20, contacts=20) as emu:
        generated = time.monotonic()
        http, token = emu.session(), emu.access_token()
        url, seen, pages = f"{emu.graph_url}/v1.0/users?$top=999&$select=id,displayName,mail", set(), 0
        while url:
            body = http.get(url, headers={"Authorization": f"Bearer {token}"}).json()
            seen.update(u["id"] for u in body["value"])
            pages += 1
            url = body.get("@odata.nextLink")
        listed = time.monotonic()
    assert len(seen) == 200_000
    assert pages == 201
    with capsys.disabled():
        print(f"\n200k users: generate+start {generated - started:.1f}s, list {listed - generated:.1f}s "
              f"({pages} pages)")
