"""manage.py endpoint_metrics --json: the contract automation relies on."""

import json
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.metrics_scenarios import CONTRACT, close, expected

ROOT = Path(__file__).resolve().parents[3]


def _iso(t):
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.prometheus
@pytest.mark.parametrize("case", ["burst", "scaled", "gap"])
def test_command_prints_one_json_object_with_the_contract(backfilled_metrics, case):
    """Run as automation does: a separate process that only gets PROMETHEUS_URL."""
    ns, model, pods, scenario = backfilled_metrics["cases"][case]
    start, end = int(backfilled_metrics["start"]), int(backfilled_metrics["end"])
    env = {
        **os.environ,
        "PROMETHEUS_URL": backfilled_metrics["url"],
        "DJANGO_SETTINGS_MODULE": "portal.settings",
    }
    out = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "endpoint_metrics",
            "--namespace",
            ns,
            "--model",
            model,
            "--start",
            _iso(start),
            "--end",
            _iso(end),
            "--json",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    want = expected(scenario, pods, start, end)
    wrong = {k: (body[k], want[k]) for k in CONTRACT if not close(body[k], want[k])}
    assert not wrong
    assert set(CONTRACT) <= set(body)


def test_bad_iso_is_a_clear_error(settings):
    settings.PROMETHEUS_URL = "http://127.0.0.1:1"
    with pytest.raises(CommandError, match="start is not an ISO 8601 date-time: 'last tuesday'"):
        call_command(
            "endpoint_metrics",
            "--namespace",
            "mp-a",
            "--model",
            "m",
            "--start",
            "last tuesday",
            "--json",
        )


def test_unset_prometheus_url_is_a_clear_error(settings):
    settings.PROMETHEUS_URL = ""
    with pytest.raises(CommandError, match="PROMETHEUS_URL is not set"):
        call_command("endpoint_metrics", "--namespace", "mp-a", "--model", "m", "--json")


def test_dead_prometheus_is_a_clear_error(settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        settings.PROMETHEUS_URL = f"http://127.0.0.1:{s.getsockname()[1]}"
    with pytest.raises(CommandError, match="Prometheus could not answer: Cannot reach Prometheus"):
        call_command("endpoint_metrics", "--namespace", "mp-a", "--model", "m", "--json")


def test_missing_namespace_is_refused():
    with pytest.raises(CommandError, match="--namespace"):
        call_command("endpoint_metrics", "--model", "m", "--json")
