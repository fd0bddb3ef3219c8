"""Benchmark of the employee signature page (signed link) under gunicorn: `python -m tests.bench.bench_signature_page`.

Migrates DATABASE_URL's database, seeds one organisation with an employee (photo, rules, default templates) and a
signed link, starts gunicorn (2 x cores + 1 sync workers) on loopback serving the real URLs plus a minimal view
(tests/bench/signature_app.py), then drives both with an asyncio load generator: 50 concurrent clients, a bounded
number of requests and seconds. Prints requests per second and latency percentiles, and the ratio against the
targets (signature page >= 50% of the minimal view's throughput, p99 <= 50 ms). Not a test.
"""
import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENV = {
    "DJANGO_SETTINGS_MODULE": "portal.settings",
    "DEBUG": "false",
    "SECRET_KEY": "bench-only-secret-key-not-for-production-0123456789",
    "FIELD_ENCRYPTION_KEYS": "XC_QdqnOggzgGi4BIZo-9eBEt4Lo33jJWuOHBNWinVc=",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "SECURE_SSL_REDIRECT": "false",
    "STATICFILES_BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage",
    "LOG_LEVEL": "WARNING",
}


def seed(site_url: str) -> str:
    """Migrate, create the benchmark organisation (idempotent) and return the path of a fresh signed link."""
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.SITE_URL = site_url
    call_command("migrate", verbosity=0)
    from django.contrib.auth import get_user_model

    from directory_sync.models import Employee
    from signatures import links
    from signatures.models import SignatureRule, SignatureTemplate, ensure_default_templates
    from tenants import onboarding
    from tenants.models import EntraLink, Organization
    from tests.signatures.conftest import make_employee, make_photo

    organization = Organization.objects.filter(slug="bench-signatures").first()
    if organization is None:
        owner = get_user_model().objects.create_user(username="bench-sig@example.com", email="bench-sig@example.com")
        organization = onboarding.create_organization(owner, "Bench Signatures")
        organization.slug, organization.website = "bench-signatures", "https://bench.example"
        organization.save()
    link = EntraLink.objects.for_org(organization).first()
    if link is None:
        link = EntraLink(organization=organization, name="Bench", tenant_id="00000000-0000-4000-8000-00000000b3c4",
                         auth_method=EntraLink.AuthMethod.CLIENT_SECRET, own_client_id="bench")
        link.set_client_secret("bench")
        link.save()
    ensure_default_templates(organization)
    employee = Employee.objects.for_org(organization).filter(graph_id="bench-employee").first()
    if employee is None:
        employee = make_employee(link, graph_id="bench-employee", display_name="Grace Hopper", first_name="Grace",
                                 last_name="Hopper", job_title="Rear Admiral", department="Navy",
                                 mobile="+1 555 0100", phone="+1 555 0199", city="Arlington")
        make_photo(employee)
    if not SignatureRule.objects.for_org(organization).exists():
        # Rules that do not match, so the page walks them (one group rule reads memberships) before the default.
        template = SignatureTemplate.objects.for_org(organization).first()
        SignatureRule.objects.create(organization=organization, order=0, kind="department", value="Sales",
                                     template=template)
        SignatureRule.objects.create(organization=organization, order=1, kind="group", value="no-such-group",
                                     template=template)
    access = links.issue(employee)
    from django.urls import reverse

    return reverse("signatures:page_by_link", args=[links.token_for(access)])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def one_request(port: int, path: str) -> tuple[float, int]:
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    data = await reader.read()  # gunicorn's sync workers close the connection after each answer
    writer.close()
    status = int(data[9:12]) if data.startswith(b"HTTP/1.") else 0
    return time.perf_counter() - started, status


async def load(port: int, path: str, clients: int, requests: int, seconds: float) -> dict:
    """`clients` concurrent loops, each sending one request after another until `requests` were sent in all or
    `seconds` passed."""
    latencies, statuses = [], {}
    sent = 0
    deadline = time.perf_counter() + seconds

    async def client():
        nonlocal sent
        while sent < requests and time.perf_counter() < deadline:
            sent += 1
            latency, status = await one_request(port, path)
            latencies.append(latency)
            statuses[status] = statuses.get(status, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p):
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000

    return {"requests": len(latencies), "seconds": elapsed, "rps": len(latencies) / elapsed,
            "p50": pct(0.50), "p95": pct(0.95), "p99": pct(0.99), "mean": statistics.mean(latencies) * 1000,
            "statuses": statuses}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1) + 1)
    args = parser.parse_args()

    os.environ.update({k: v for k, v in ENV.items() if k not in os.environ or k == "DEBUG"})
    port = free_port()
    site_url = f"http://127.0.0.1:{port}"
    os.environ["SITE_URL"] = site_url
    sys.path.insert(0, str(ROOT))
    signature_path = seed(site_url)

    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "tests.bench.signature_app:application", "--bind", f"127.0.0.1:{port}",
         "--workers", str(args.workers), "--worker-class", "sync", "--backlog", "2048", "--log-level", "warning"],
        cwd=ROOT, env=dict(os.environ),
    )
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{site_url}/bench/minimal/", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        print(f"gunicorn: {args.workers} sync workers on {os.cpu_count()} cores; {args.clients} clients, "
              f"at most {args.requests} requests or {args.seconds:.0f} s per run (loopback)")
        # Rounds alternate the two URLs so that a machine shared with other work loads both alike.
        paths = (("minimal view", "/bench/minimal/"), ("signature page", signature_path))
        for name, path in paths:
            asyncio.run(load(port, path, args.clients, 300, 5))  # warm-up: connections, caches, compiled templates
        rounds = []
        for number in range(1, args.rounds + 1):
            results = {}
            for name, path in paths:
                results[name] = result = asyncio.run(load(port, path, args.clients, args.requests, args.seconds))
                print(f"round {number} {name:15} {result['rps']:7.0f} req/s  p50 {result['p50']:6.1f} ms  "
                      f"p95 {result['p95']:6.1f} ms  p99 {result['p99']:6.1f} ms  ({result['requests']} requests in "
                      f"{result['seconds']:.1f} s, statuses {result['statuses']})")
            rounds.append(results)
        ratios = sorted(r["signature page"]["rps"] / r["minimal view"]["rps"] for r in rounds)
        p99s = sorted(r["signature page"]["p99"] for r in rounds)
        minimal_p99s = sorted(r["minimal view"]["p99"] for r in rounds)
        ratio, p99 = statistics.median(ratios), statistics.median(p99s)
        print(f"median signature page / minimal view throughput: {ratio:.0%} (target >= 50%): "
              f"{'met' if ratio >= 0.5 else 'NOT met'}  (rounds: {', '.join(f'{r:.0%}' for r in ratios)})")
        print(f"median signature page p99: {p99:.1f} ms (target <= 50 ms): {'met' if p99 <= 50 else 'NOT met'}; "
              f"the minimal view's own median p99 on this machine: {statistics.median(minimal_p99s):.1f} ms")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
