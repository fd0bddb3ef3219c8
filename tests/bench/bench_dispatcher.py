"""Benchmark of beat's dispatcher tick with 10,000 links: `python -m tests.bench.bench_dispatcher`.

Creates a fresh PostgreSQL database next to DATABASE_URL's (signet_bench_dispatch), bulk-creates 10,000 linked
links with their next sync times spread over the coming 3 hours (plus 100 never scheduled), then times one
dispatcher tick per simulated minute for 60 minutes (claim with SKIP LOCKED, move ahead, enqueue into a list) and
prints the median, p95 and worst tick and how many links each tick started. Not a test.
"""

import argparse
import os
import statistics
import time
import uuid
from datetime import timedelta

from tests.bench.bench_views import ENV, _database_url, _fresh_database


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--links", type=int, default=10_000)
    parser.add_argument("--minutes", type=int, default=60)
    args = parser.parse_args()
    _fresh_database("signet_bench_dispatch")
    os.environ.update(ENV, DATABASE_URL=_database_url("signet_bench_dispatch"))
    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    from directory_sync import scheduling
    from tenants.models import EntraLink
    from tests import factories

    call_command("migrate", verbosity=0)
    organization = factories.make_organization("Bench Dispatch")
    now = timezone.now()
    spread = timedelta(hours=3)
    links = [
        EntraLink(
            organization=organization,
            name=f"T{i}",
            tenant_id=str(uuid.uuid4()),
            next_sync_at=now + spread * i / args.links,
        )
        for i in range(args.links)
    ]
    links += [
        EntraLink(organization=organization, name=f"New{i}", tenant_id=str(uuid.uuid4())) for i in range(100)
    ]
    EntraLink.objects.bulk_create(links, batch_size=2000)
    times, started = [], []
    for minute in range(args.minutes):
        tick_now = now + timedelta(minutes=minute)
        sent = []
        t0 = time.perf_counter()
        scheduling.dispatch_due_syncs(now=tick_now, enqueue=sent.append)
        times.append((time.perf_counter() - t0) * 1000)
        started.append(len(sent))
    times_sorted = sorted(times)
    print(f"dispatcher tick with {args.links} links (+100 new), {args.minutes} simulated minutes")
    print(
        f"tick ms: p50 {statistics.median(times):.1f}  p95 {times_sorted[int(0.95 * len(times)) - 1]:.1f}  "
        f"max {max(times):.1f}  (first tick, with the 100 new links: {times[0]:.1f})"
    )
    print(
        f"links started per tick: mean {statistics.mean(started):.1f}  max {max(started)}  "
        f"cap {scheduling.tick_capacity(args.links + 100)}"
    )


if __name__ == "__main__":
    main()
