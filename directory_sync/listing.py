"""How a sync run reads the directory's users: a full listing or a delta round, streamed a page at a time
while a background thread prefetches the next pages, and the fallback to a full round when a saved delta link
expired (the groups and contacts steps use it too).

Called by `directory_sync.engine` within one run (a `RunContext`); every page is written by `reconcile`.
"""
import logging
import queue
import threading

from directory_sync import graph, graph_reads, reconcile, rules

logger = logging.getLogger(__name__)


def with_delta_fallback(ctx, step, full, what, reset=None):
    """Run a delta-based step; when its saved delta link expired, run it again as a full one (rows written by
    the expired round are simply written again: every write is keyed and idempotent)."""
    try:
        return step(full)
    except graph.DeltaTokenExpired:
        logger.info("delta link of %s for link %s expired: full listing", what, ctx.link.pk)
        if reset:
            reset(ctx)
        return step(True)


def reset_user_counts(ctx) -> None:
    """Forget what an expired delta round counted, before the full listing that replaces it."""
    ctx.seen_ids.clear()
    ctx.deleted_ids.clear()
    for name in ("seen", "added", "updated", "unchanged", "excluded", "restored"):
        setattr(ctx.run, name, 0)


def sync_users(ctx, full, progress) -> tuple[str, bool]:
    """Stream the users (a full listing or a delta round), a page at a time: (new delta link, was it full)."""
    settings, link = ctx.settings, ctx.link
    select = rules.graph_select(ctx.config)
    if ctx.needs_manager:
        # A delta round tracks the manager relationship (manager@delta) without $expand's 100-per-page cap.
        select = sorted(set(select) | set(rules.manager_select(ctx.config)) | {"manager"})
    if not full and settings.user_delta_link:
        pages = graph_reads.iter_delta(link, "users", select=select, delta_link=settings.user_delta_link,
                                       stats=ctx.stats)
        delta_link = ""
        for page in prefetched(pages):
            apply_delta_items(ctx, page.items)
            delta_link = page.delta_link or delta_link
            progress("users")
        return delta_link, False
    if ctx.needs_manager:
        delta_link = ""
        for page in prefetched(graph_reads.iter_delta(link, "users", select=select, stats=ctx.stats)):
            apply_delta_items(ctx, page.items)
            delta_link = page.delta_link or delta_link
            progress("users")
        return delta_link, True
    # Full listing with $top=999. The delta link is taken first ($deltatoken=latest: no data, one request), so
    # changes made while the listing runs are replayed by the next delta round rather than lost.
    delta_link = _latest_delta_link(ctx, select)
    for page in prefetched(graph_reads.iter_user_pages(link, select, stats=ctx.stats)):
        reconcile.write_users(ctx, page)
        ctx.run.pages_fetched += 1
        ctx.run.users_processed += len(page)
        progress("users")
    return delta_link, True


def prefetched(pages, depth=2):
    """Iterate `pages` while a background thread already fetches the next ones (at most `depth` ahead), so
    Graph's answer time and our writing overlap. The thread only runs graph.py (no database); its exceptions
    are raised here, in order, after the pages before them."""
    buffer = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce():
        try:
            for page in pages:
                buffer.put(("page", page))
                if stop.is_set():
                    return
            buffer.put(("done", None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            buffer.put(("error", exc))

    thread = threading.Thread(target=produce, name="graph-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = buffer.get()
            if kind == "done":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        # Unblock a producer waiting to hand over a page; it then sees `stop` and ends.
        while not buffer.empty():
            buffer.get_nowait()


def _latest_delta_link(ctx, select) -> str:
    url = f"{ctx.link.cloud.graph_url}/v1.0/users/delta?$select={','.join(select)}&$deltatoken=latest"
    delta_link = ""
    for page in graph_reads.iter_delta(ctx.link, "users", select=select, delta_link=url, stats=ctx.stats):
        delta_link = page.delta_link or delta_link
    return delta_link


def apply_delta_items(ctx, items) -> None:
    """Write one page of a delta round: `@removed` items are noted for reconciliation, the others written."""
    live = []
    for item in items:
        gid = str(item.get("id") or "")
        if "@removed" in item:
            reason = (item.get("@removed") or {}).get("reason") or "deleted"
            ctx.deleted_ids[gid] = reason
            ctx.seen_ids.discard(gid)
            live = [user for user in live if str(user.get("id")) != gid]
        else:
            live.append(item)
    reconcile.write_users(ctx, live)
    ctx.run.pages_fetched += 1
    ctx.run.users_processed += len(items)
