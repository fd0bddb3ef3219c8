"""The demo command's pieces that can break without the whole demo running."""
import subprocess
import sys
from pathlib import Path

from portal.management.commands import demo

ROOT = Path(__file__).resolve().parents[2]


def test_the_emulator_starts_with_a_portal_secret_that_starts_with_a_dash(tmp_path):
    """secrets.token_urlsafe() may begin with "-": the emulator must still take it as the secret."""
    app = {"client_id": "11111111-2222-3333-4444-555555555555", "client_secret": "-starts-with-a-dash"}
    command = demo._emulator_command(sys.executable, tmp_path, 0, 0, 20, app,
                                     ["http://127.0.0.1:8000/entra/consent/callback"])
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        facts = demo._wait_for_facts(tmp_path / "emulator.json", proc, timeout=30)
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=10)
    assert facts["portal_app"]["client_secret"] == "-starts-with-a-dash", output
    assert facts["portal_app"]["client_id"] == app["client_id"]


def test_portal_app_credentials_are_made_once_and_kept(tmp_path):
    path = tmp_path / "demo-portal-app.json"
    first = demo._portal_app(path)
    assert demo._portal_app(path) == first
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_the_env_file_gives_operator_commands_the_demo_s_environment(tmp_path):
    """Sourced in another shell, var/demo.env must give back every value exactly, quotes and spaces included."""
    values = {"ENTRA_CLIENT_SECRET": "-a'b c$d\"e", "ENTRA_CUSTOM_CA_BUNDLE": "/tmp/with space/ca.pem",
              "DEBUG": "true"}
    path = tmp_path / "demo.env"
    demo._write_env_file(path, values)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    shown = subprocess.run(["bash", "-c", f"set -a; . '{path}'; set +a; env -0"], capture_output=True, check=True)
    environment = dict(item.split("=", 1) for item in shown.stdout.decode().split("\0") if "=" in item)
    assert {name: environment[name] for name in values} == values
