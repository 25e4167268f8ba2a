"""Benchmark: the web tier under concurrent users, gunicorn as the chart runs it.

Seeds a fresh database (``--teams`` teams, ``--endpoints`` endpoints spread over them, one user
who is a member of ``--member-of`` teams), starts gunicorn with ``portal/gunicorn.conf.py``
(2 workers x 4 threads, as ``charts/modelport/values.yaml``) on loopback, then for
``--duration`` seconds runs at the same time:

* **reads**: ``wrk`` (Debian package ``wrk``; install it with ``apt-get install wrk``) with
  ``--users`` connections rotating over the overview, the endpoint list, endpoint pages, the
  team costs page and ``GET /api/v1/endpoints/`` (session cookie or API token);
* **writes**: a few Python threads (``--writers``) scaling endpoints through the API and
  creating API tokens through the page form, as fast as they are answered.

Prints wrk's latency percentiles and error counts, the writes' p50/p95 and errors, and the SQL
statements each page costs at this size (counted in-process, so the numbers do not include
gunicorn). Bounded in time, loopback only::

    .venv/bin/python bench/web_load.py --database-url postgres://...   # 50 users, 1,000 endpoints
    .venv/bin/python bench/web_load.py --sqlite --users 10            # the embedded default
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LUA = r"""
local paths = {%(paths)s}
local i = 0
request = function()
  i = i + 1
  local p = paths[(i %% #paths) + 1]
  if string.sub(p, 1, 8) == "/api/v1/" then
    return wrk.format("GET", p, {["Authorization"] = "Token %(token)s"})
  end
  return wrk.format("GET", p, {["Cookie"] = "sessionid=%(session)s"})
end
delay = function()
  if %(think)d <= 0 then return 0 end
  return math.random(%(think)d / 2, %(think)d * 3 / 2)
end
done = function(summary, latency, requests)
  io.write(string.format("JSON {\"p50_ms\": %%.1f, \"p95_ms\": %%.1f, \"p99_ms\": %%.1f, " ..
    "\"max_ms\": %%.1f, \"requests\": %%d, \"connect_errors\": %%d, \"read_errors\": %%d, " ..
    "\"write_errors\": %%d, \"timeouts\": %%d, \"non_2xx\": %%d}\n",
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, summary.requests, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, summary.errors.status))
end
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fresh_database(url: str, work: Path, sqlite: bool) -> str:
    if sqlite:
        return f"sqlite:///{work / 'load.sqlite3'}"
    import psycopg

    parts = urlsplit(url)
    name = f"modelport_load_{os.getpid()}"
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


def _drop_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parts.path[1:]}" WITH (FORCE)')


def _seed(teams: int, endpoints: int, member_of: int) -> dict:
    from django.core.management import call_command
    from django.test import Client

    from deployments.models import Endpoint
    from portal import tokens
    from portal.models import Membership
    from tests.factories import (
        EndpointFactory,
        GpuRateFactory,
        GpuTypeFactory,
        InstanceOfferingFactory,
        MembershipFactory,
        TeamFactory,
        UserFactory,
    )

    call_command("migrate", verbosity=0)
    user = UserFactory(username="load")
    gpu = GpuTypeFactory(name="L4-load")
    offering = InstanceOfferingFactory(gpu_type=gpu, instance_type="g6.xlarge", gpus_per_node=1)
    for capacity, price in (("on-demand", "0.80"), ("spot", "0.30")):
        GpuRateFactory(offering=offering, capacity_type=capacity, hourly_price=Decimal(price))
    template, team_slugs = {"gpu_type": gpu, "offering": offering}, []
    for t in range(teams):
        team = TeamFactory(name=f"Team {t:03d}", slug=f"team-{t:03d}", max_gpus=10_000)
        if t < member_of:
            MembershipFactory(team=team, user=user, role=Membership.Role.ADMIN)
            team_slugs.append(team.slug)
        first = EndpointFactory(team=team, name="ep-00000", **template)
        template.setdefault("model", first.model)
        template.setdefault("requested_by", first.requested_by)
        copies = []
        for i in range(1, endpoints // teams):
            clone = Endpoint(
                **{f.attname: getattr(first, f.attname) for f in Endpoint._meta.fields}
            )
            clone.pk = None
            clone.uuid = Endpoint._meta.get_field("uuid").default()
            clone.name = f"ep-{i:05d}"
            copies.append(clone)
        Endpoint.objects.bulk_create(copies, batch_size=1000)
    client = Client()
    client.force_login(user)
    _, key = tokens.create_token(user, "load")
    mine = list(
        Endpoint.objects.filter(team__slug__in=team_slugs)
        .order_by("name")
        .values_list("uuid", flat=True)[:40]
    )
    return {
        "session": client.cookies["sessionid"].value,
        "token": key,
        "teams": team_slugs,
        "endpoints": [str(u) for u in mine],
    }


def _paths(seed: dict) -> list[str]:
    out = ["/", "/endpoints/", "/api/v1/endpoints/", "/api/v1/endpoints/?page=2"]
    for i, uuid in enumerate(seed["endpoints"][:10]):
        out += [f"/endpoints/{uuid}/", f"/api/v1/endpoints/{uuid}/"]
        out.append(f"/costs/teams/{seed['teams'][i % len(seed['teams'])]}/")
    return out


def _query_counts(paths: list[str], seed: dict) -> dict[str, int]:
    """SQL statements per page, in-process (same database and session)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_AUTHORIZATION=f"Token {seed['token']}")
    client.cookies["sessionid"] = seed["session"]
    out = {}

    def shape(p: str) -> str:
        return re.sub(r"[0-9a-f-]{36}", "<uuid>", re.sub(r"team-\d+", "<team>", p))

    for p in dict.fromkeys(shape(p) for p in paths):
        real = next(x for x in paths if shape(x) == p)
        client.get(real)  # warm caches (catalog, prices)
        with CaptureQueriesContext(connection) as captured:
            resp = client.get(real)
        out[f"{p} ({resp.status_code})"] = len(captured.captured_queries)
    return out


def _writer(
    base: str, seed: dict, stop: float, out: list, errors: list, n: int, think_ms: int
) -> None:
    api = requests.Session()
    api.headers["Authorization"] = f"Token {seed['token']}"
    page = requests.Session()
    page.cookies.set("sessionid", seed["session"])
    i = 0
    rng = random.Random(n)
    while time.monotonic() < stop:
        i += 1
        if think_ms > 0:
            time.sleep(rng.uniform(0.5, 1.5) * think_ms / 1000)
        t0 = time.perf_counter()
        step = "scale" if i % 2 else "token form"
        try:
            if i % 2:
                uuid = seed["endpoints"][(n * 7 + i) % len(seed["endpoints"])]
                r = api.post(
                    f"{base}/api/v1/endpoints/{uuid}/scale/",
                    json={"min_replicas": 1, "max_replicas": 2 + i % 3},
                    timeout=30,
                )
                ok = r.status_code == 202
            else:
                form = page.get(f"{base}/account/api-token/", timeout=30)
                step = "token create"
                csrf = page.cookies.get("csrftoken") or ""
                r = page.post(
                    f"{base}/account/api-token/",
                    data={"name": f"w{n}-{i}", "expires_in_days": "30"},
                    headers={"X-CSRFToken": csrf, "Referer": f"{base}/account/api-token/"},
                    timeout=30,
                )
                ok = form.status_code == 200 and r.status_code == 200 and "w" in r.text
            out.append((time.perf_counter() - t0) * 1000)
            if not ok:
                errors.append(f"{r.status_code} {r.text[:200]}")
        except requests.RequestException as exc:
            errors.append(f"{step}: {type(exc).__name__}: {exc}")


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes and their children (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    seen: set[int] = set()
    todo = list(pids)
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{pid}/task").iterdir():
                children = (task / "children").read_text().split()
                todo += [int(c) for c in children]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def _machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all cores), from /proc/stat."""
    values = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _server_times(log: Path, since: float) -> dict:
    """Per page shape: gunicorn's own time for the request (parse to last byte), p50/p95 ms."""
    from datetime import datetime

    per: dict[str, list[float]] = {}
    for line in log.read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if datetime.fromisoformat(entry["time"]).timestamp() < since:
            continue
        key = (
            entry["method"]
            + " "
            + re.sub(r"[0-9a-f-]{36}", "<uuid>", re.sub(r"team-\d+", "<team>", entry["path"]))
        )
        if entry.get("query"):
            key += "?" + entry["query"]
        per.setdefault(key, []).append(entry["duration_ms"])
    out = {}
    for key, v in sorted(per.items()):
        v.sort()
        out[key] = {
            "n": len(v),
            "p50_ms": round(statistics.median(v), 1),
            "p95_ms": round(v[min(len(v) - 1, int(len(v) * 0.95))], 1),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    ap.add_argument("--sqlite", action="store_true", help="the embedded SQLite default")
    ap.add_argument("--users", type=int, default=50, help="concurrent read connections")
    ap.add_argument("--writers", type=int, default=2)
    ap.add_argument(
        "--think-ms",
        type=int,
        default=0,
        help="mean pause of each read connection between requests (uniform 0.5-1.5x); "
        "0: closed loop, every connection sends its next request at once",
    )
    ap.add_argument("--duration", type=int, default=30, help="seconds")
    ap.add_argument("--teams", type=int, default=100)
    ap.add_argument("--endpoints", type=int, default=1000)
    ap.add_argument("--member-of", type=int, default=10)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not args.sqlite and not args.database_url.startswith("postgres"):
        raise SystemExit("give a PostgreSQL --database-url, or --sqlite")
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    work = Path(tempfile.mkdtemp(prefix="web-load-"))
    url = _fresh_database(args.database_url, work, args.sqlite)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    gunicorn = None
    try:
        t0 = time.monotonic()
        seed = _seed(args.teams, args.endpoints, args.member_of)
        result = {
            "database": "sqlite" if args.sqlite else "postgresql",
            "teams": args.teams,
            "endpoints": args.endpoints,
            "users": args.users,
            "writers": args.writers,
            "duration_s": args.duration,
            "think_ms": args.think_ms,
            "seed_s": round(time.monotonic() - t0, 1),
        }
        paths = _paths(seed)
        result["queries_per_page"] = _query_counts(paths, seed)
        port = _free_port()
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "DEBUG": "false",
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "GUNICORN_ACCESS_LOG": str(work / "access.log"),
            "LOG_LEVEL": "WARNING",
        }
        gunicorn = subprocess.Popen(
            [
                str(ROOT / ".venv/bin/gunicorn"),
                "-c",
                "portal/gunicorn.conf.py",
                "portal.wsgi:application",
            ],
            cwd=ROOT,
            env=env,
            stdout=open(work / "gunicorn.log", "w"),
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if gunicorn.poll() is not None:
                break
            time.sleep(0.2)
        else:
            gunicorn.kill()
        if gunicorn.poll() is not None:
            raise SystemExit(
                "gunicorn did not start:\n" + (work / "gunicorn.log").read_text()[-3000:]
            )
        for p in paths:  # every page answers before the load starts
            r = requests.get(
                base + p,
                cookies={"sessionid": seed["session"]},
                headers={"Authorization": f"Token {seed['token']}"} if "/api/" in p else {},
                timeout=30,
            )
            if r.status_code != 200:
                raise SystemExit(f"{p}: HTTP {r.status_code}\n{r.text[:500]}")
        single: dict[str, list[float]] = {}
        for p in paths * 3:  # one request at a time: each page's own latency
            t1 = time.perf_counter()
            requests.get(
                base + p,
                cookies={"sessionid": seed["session"]},
                headers={"Authorization": f"Token {seed['token']}"} if "/api/" in p else {},
                timeout=30,
            )
            key = re.sub(r"[0-9a-f-]{36}", "<uuid>", re.sub(r"team-\d+", "<team>", p))
            single.setdefault(key, []).append((time.perf_counter() - t1) * 1000)
        result["single_request_p50_ms"] = {
            k: round(statistics.median(v), 1) for k, v in single.items()
        }
        script = work / "mix.lua"
        script.write_text(
            LUA
            % {
                "paths": ", ".join(json.dumps(p) for p in paths),
                "token": seed["token"],
                "session": seed["session"],
                "think": args.think_ms,
            }
        )
        writes: list[float] = []
        write_errors: list = []
        stop = time.monotonic() + args.duration
        writers = [
            threading.Thread(
                target=_writer,
                args=(base, seed, stop, writes, write_errors, n, args.think_ms),
                daemon=True,
            )
            for n in range(args.writers)
        ]
        for w in writers:
            w.start()
        load_start = time.time()
        cpu0 = (_cpu_seconds([gunicorn.pid]), _machine_busy_seconds(), time.monotonic())
        wrk = subprocess.Popen(
            [
                "wrk",
                f"-c{args.users}",
                f"-t{min(args.users, 2)}",
                f"-d{args.duration}s",
                "--timeout",
                "10s",
                "-s",
                str(script),
                base,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        wrk_pid = wrk.pid
        wrk_cpu = 0.0
        while wrk.poll() is None:
            wrk_cpu = max(wrk_cpu, _cpu_seconds([wrk_pid]))
            time.sleep(0.5)
        wrk_out = wrk.communicate(timeout=args.duration + 60)[0]
        for w in writers:
            w.join(timeout=60)
        elapsed = time.monotonic() - cpu0[2]
        server_cpu = _cpu_seconds([gunicorn.pid]) - cpu0[0]
        busy = _machine_busy_seconds() - cpu0[1]
        result["cpu"] = {
            "cores": os.cpu_count(),
            "gunicorn_s": round(server_cpu, 1),
            "wrk_s": round(wrk_cpu, 1),
            "machine_busy_s": round(busy, 1),
            "wall_s": round(elapsed, 1),
            "gunicorn_share_of_busy": round(server_cpu / busy, 2) if busy else None,
            "gunicorn_ms_per_request": None,
        }
        line = next(x for x in wrk_out.splitlines() if x.startswith("JSON "))
        result["reads"] = json.loads(line[5:])
        result["reads"]["per_s"] = round(result["reads"]["requests"] / args.duration, 1)
        served = result["reads"]["requests"] + len(writes) * 1.5
        result["cpu"]["gunicorn_ms_per_request"] = round(server_cpu * 1000 / served, 1)
        time.sleep(1)  # the access log is written after the response
        result["server_time_by_page"] = _server_times(work / "access.log", load_start)
        result["writes"] = {
            "count": len(writes),
            "p50_ms": round(statistics.median(writes), 1) if writes else None,
            "p95_ms": round(statistics.quantiles(writes, n=20)[-1], 1) if len(writes) > 1 else None,
            "errors": len(write_errors),
            "error_kinds": sorted({str(e) for e in write_errors}),
        }
        result["load_average"] = round(os.getloadavg()[0], 1)
        result["gunicorn_errors_logged"] = sum(
            1 for x in (work / "gunicorn.log").read_text().splitlines() if "Traceback" in x
        )
    finally:
        if gunicorn is not None:
            gunicorn.send_signal(signal.SIGTERM)
            gunicorn.wait(timeout=60)
        from django.db import connections

        connections.close_all()
        if not args.sqlite:
            _drop_database(url)
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
