"""portal.warmup builds, before gunicorn forks, what each worker's first requests would build:
the views, the Celery app and its broker transport, the compiled templates; it leaves what it
built out of the garbage collector's full collections (frozen), and it opens no connection that
the forked workers would share."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import gc, json, sys
import django
django.setup()
from celery import current_app
from django.db import connections
from django.template import engines
from portal.warmup import warm_process

warm_process()
frozen = gc.get_freeze_count()
class Cycle:
    pass
for _ in range(100):  # made after start-up: still collected
    a, b = Cycle(), Cycle()
    a.other, b.other = b, a
    del a, b
collected = gc.collect()
loader = engines["django"].engine.template_loaders[0]
print(json.dumps({
    "views_imported": "deployments.endpoints.views" in sys.modules,
    "celery_finalized": current_app.finalized,
    "transport_imported": "kombu.transport.redis" in sys.modules,
    "templates_cached": sorted(k for k in loader.get_template_cache if k.startswith("base.html")),
    "database_connected": connections["default"].connection is not None,
    "frozen": frozen,
    "collected": collected,
    "tracked_after": len(gc.get_objects()),
}))
"""


def test_warm_process_builds_views_tasks_and_templates_without_connecting(tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_"))},
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DEBUG": "false",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        # Nothing listens on port 1: connecting to the broker would fail the probe.
        "CELERY_BROKER_URL": "redis://127.0.0.1:1/0",
    }
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    state = json.loads(out.stdout.strip().splitlines()[-1])
    assert state["views_imported"] and state["celery_finalized"] and state["transport_imported"]
    assert state["templates_cached"] == ["base.html"]
    assert not state["database_connected"]
    # start-up's objects frozen (a full collection of the process never walks them), the
    # cycles made afterwards collected as before
    assert state["frozen"] > 50_000 and state["tracked_after"] < state["frozen"] // 10
    assert state["collected"] >= 200
