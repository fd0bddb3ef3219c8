"""`python manage.py demo` (what `make demo` runs): the emulator, web, worker and beat on embedded defaults.

It starts the Entra/Graph emulator (a separate process: the product never imports it), points the portal's
"custom" cloud and multi-tenant app at it, seeds a demo organisation linked to the emulator's tenant, then runs
the web server, a Celery worker and beat until Ctrl-C. If any of them stops, it stops the others.
"""
import json
import os
import secrets
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.urls import NoReverseMatch, reverse

# The redirect URIs Microsoft (here: the emulator) may send browsers back to; registered on the portal app.
CALLBACK_URL_NAMES = ["tenants:link_consent_callback", "signatures:signin_callback"]


def _callback_paths() -> list[str]:
    paths = []
    for name in CALLBACK_URL_NAMES:
        try:
            paths.append(reverse(name))
        except NoReverseMatch:
            continue  # that feature is not installed
    return paths


class Command(BaseCommand):
    help = "Run the demo: Entra/Graph emulator, web server, Celery worker and beat (Ctrl-C stops everything)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000, help="web server port")
        parser.add_argument("--emulator-port", type=int, default=8443, help="emulator HTTPS port (API)")
        parser.add_argument("--emulator-browser-port", type=int, default=8444, help="emulator HTTP port (pages)")
        parser.add_argument("--users", type=int, default=250, help="people in the emulator's demo tenant")

    def handle(self, *args, **options):
        var = Path(settings.VAR_DIR)
        var.mkdir(parents=True, exist_ok=True)
        site_url = f"http://127.0.0.1:{options['port']}"
        portal_app = _portal_app(var / "demo-portal-app.json")
        emulator_dir = var / "emulator"
        facts_path = emulator_dir / "emulator.json"
        facts_path.unlink(missing_ok=True)

        procs: list[tuple[str, subprocess.Popen]] = []

        def start(name, argv, env):
            procs.append((name, subprocess.Popen(argv, env=env, cwd=settings.BASE_DIR)))

        def stop_all(*_):
            for _, proc in reversed(procs):
                if proc.poll() is None:
                    proc.terminate()
            for _, proc in procs:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()

        signal.signal(signal.SIGTERM, lambda *_: (stop_all(), sys.exit(0)))
        python = sys.executable
        try:
            emulator_args = _emulator_command(
                python, emulator_dir, options["emulator_port"], options["emulator_browser_port"],
                options["users"], portal_app, [f"{site_url}{path}" for path in _callback_paths()]
                + [f"http://localhost:{options['port']}{path}" for path in _callback_paths()],
            )
            start("emulator", emulator_args, dict(os.environ))
            facts = _wait_for_facts(facts_path, procs[0][1])

            demo_env = {
                "DEBUG": "true",
                "SITE_URL": site_url,
                "ENTRA_CLIENT_ID": portal_app["client_id"],
                "ENTRA_CLIENT_SECRET": portal_app["client_secret"],
                "ENTRA_CUSTOM_LOGIN_URL": facts["login_url"],
                "ENTRA_CUSTOM_GRAPH_URL": facts["graph_url"],
                "ENTRA_CUSTOM_BROWSER_LOGIN_URL": facts["browser_url"],
                "ENTRA_CUSTOM_CA_BUNDLE": facts["ca_bundle"],
            }
            _write_env_file(var / "demo.env", demo_env)
            env = dict(os.environ, **demo_env)
            seeded = subprocess.run(
                [python, "manage.py", "seed_demo", "--emulator-facts", str(facts_path)],
                env=env, cwd=settings.BASE_DIR, capture_output=True, text=True,
            )
            if seeded.returncode != 0:
                raise CommandError(f"Seeding the demo failed:\n{seeded.stdout}{seeded.stderr}")
            credentials = json.loads(seeded.stdout.strip().splitlines()[-1])

            start("web", [python, "manage.py", "runserver", f"127.0.0.1:{options['port']}", "--noreload"], env)
            start("worker", [python, "-m", "celery", "-A", "portal", "worker", "--pool=solo", "--loglevel=INFO"],
                  env)
            start("beat", [python, "-m", "celery", "-A", "portal", "beat", "--loglevel=INFO",
                           "-s", str(var / "celerybeat-schedule")], env)
            _wait_for_web(f"{site_url}/healthz", procs[1][1])
            self._banner(site_url, credentials, facts)

            while True:
                for name, proc in procs:
                    if proc.poll() is not None:
                        raise CommandError(f"The {name} process stopped (exit code {proc.returncode}).")
                time.sleep(1)
        except KeyboardInterrupt:
            self.stdout.write("\nStopping the demo…")
        finally:
            stop_all()

    def _banner(self, site_url, credentials, facts):
        tenant = facts["tenant"]
        lines = [
            "",
            "Signet demo is running.",
            f"  Portal        {site_url}/",
            f"  Sign in as    {credentials['email']}  /  password: {credentials['password']}",
            f"  Organisation  {credentials['organization']}  ({site_url}/o/{credentials['slug']}/)",
            f"  Entra tenant  {tenant['display_name']}  {tenant['id']}  ({tenant['initial_domain']})",
            f"  Tenant admin  {tenant.get('admin_upn')}  (use it on the emulator's consent page)",
            f"  Emulator      API {facts['login_url']}  pages {facts['browser_url']}  CA {facts['ca_bundle']}",
            f"  Own app       client id {facts['own_app']['client_id']}",
            f"  Commands      set -a; . {os.path.relpath(settings.VAR_DIR)}/demo.env; set +a; "
            f"{os.path.relpath(sys.executable)} manage.py sync_link {credentials['link_id']}",
            "Press Ctrl-C to stop web, worker, beat and the emulator.",
            "",
        ]
        self.stdout.write(self.style.SUCCESS("\n".join(lines)))


def _emulator_command(python, data_dir, https_port, http_port, users, portal_app, redirect_uris) -> list[str]:
    """The command line that starts the emulator with the demo's stand-in for Signet's multi-tenant app."""
    # "--name=value" throughout: a generated secret may start with "-", which argparse would take for an option.
    return [
        python, "-m", "entra_emulator", f"--data-dir={data_dir}", f"--https-port={https_port}",
        f"--http-port={http_port}", f"--users={users}", f"--portal-client-id={portal_app['client_id']}",
        f"--portal-client-secret={portal_app['client_secret']}",
        *[f"--portal-redirect-uri={uri}" for uri in redirect_uris],
    ]


def _write_env_file(path: Path, values: dict) -> None:
    """The demo's environment as a shell file (`set -a; . var/demo.env; set +a`), so that operator commands run in
    another terminal (sync_link, export_employees) reach the same emulator. Readable by its owner only: it holds
    the demo app's secret."""
    path.write_text("".join(f"{name}={shlex.quote(value)}\n" for name, value in values.items()))
    path.chmod(0o600)


def _portal_app(path: Path) -> dict:
    """The demo's stand-in for Signet's multi-tenant app registration: made once, kept under var/."""
    if path.exists():
        return json.loads(path.read_text())
    app = {"client_id": str(uuid.uuid4()), "client_secret": secrets.token_urlsafe(30)}
    path.write_text(json.dumps(app))
    path.chmod(0o600)
    return app


def _wait_for_web(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise CommandError("The web server did not start: see its output above (is the port taken?).")


def _wait_for_facts(path: Path, proc: subprocess.Popen, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise CommandError("The emulator did not start: see its output above (is the port taken?).")
        if path.exists():
            try:
                return json.loads(path.read_text())
            except json.JSONDecodeError:
                pass  # being written
        time.sleep(0.2)
    raise CommandError("The emulator did not start within a minute.")
