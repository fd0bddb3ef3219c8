"""Production refuses unsafe settings; `check --deploy` is clean under production settings; compose is complete."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROD = {
    "DEBUG": "false",
    "SECRET_KEY": "a-long-random-production-secret-key-0123456789-abcdefghijklmnop",
    "ALLOWED_HOSTS": "signet.example.com",
    "FIELD_ENCRYPTION_KEYS": "XC_QdqnOggzgGi4BIZo-9eBEt4Lo33jJWuOHBNWinVc=",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/signet",
}


def _check(env_overrides, *args):
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS",
                                                              "FIELD_ENCRYPTION_KEYS", "SECURE_SSL_REDIRECT",
                                                              "DJANGO_ALLOW_ASYNC_UNSAFE", "PASSWORD_HASHERS",
                                                              "STATICFILES_BACKEND"}}
    env.update(env_overrides)
    return subprocess.run([sys.executable, "manage.py", "check", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True)


def test_check_deploy_is_clean_under_production_settings():
    result = _check(PROD, "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize("overrides,message", [
    ({"SECRET_KEY": ""}, "Set SECRET_KEY"),
    ({"DEBUG": "true"}, "DEBUG=True is only allowed"),
    ({"FIELD_ENCRYPTION_KEYS": ""}, "Set FIELD_ENCRYPTION_KEYS"),
])
def test_production_refuses_unsafe_settings(overrides, message):
    env = dict(PROD, **overrides)
    if overrides.get("SECRET_KEY") == "":
        del env["SECRET_KEY"]
    result = _check(env)
    assert result.returncode != 0
    assert message in result.stderr


def test_compose_runs_the_production_shape():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"db", "redis", "web", "worker", "beat"}
    assert "migrate" in " ".join(services["web"]["command"]) and "gunicorn" in " ".join(services["web"]["command"])
    for name in ("db", "redis", "web", "worker"):
        assert "healthcheck" in services[name], name
    assert "worker" in services["worker"]["command"] and "beat" in services["beat"]["command"]
