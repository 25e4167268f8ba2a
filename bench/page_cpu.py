"""Benchmark: CPU time per page of the web-load mix, in-process (no gunicorn, no network).

Seeds the same fleet as ``bench/web_load.py`` (``--teams`` teams, ``--endpoints`` endpoints, one
user in ``--member-of`` teams) into a fresh database, then requests every page of the mix
``--rounds`` times through the Django test client and reports the median **CPU time** of this
thread per page shape (``time.process_time``): on a shared machine wall time measures the other
jobs; CPU time is what the page costs the server. The mix includes the writers' scale
(``POST /api/v1/endpoints/<uuid>/scale/``; enqueueing needs ``CELERY_BROKER_URL``, else the task
runs eagerly against no cluster).

``--first`` reports instead what each page costs the **first** time this process serves it, next
to the second time: what a new gunicorn worker pays on its first requests. gunicorn forks its
workers from a master that has run ``portal.wsgi`` (``preload_app``), so by default this process
runs ``portal.warmup.warm_process()`` as that module does; ``--no-warm`` leaves it out::

    .venv/bin/python bench/page_cpu.py --database-url postgres://...
    .venv/bin/python bench/page_cpu.py --database-url postgres://... --first [--no-warm]
    .venv/bin/python bench/page_cpu.py --sqlite
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import web_load  # noqa: E402  (the same seed and page mix)

SCALE = "POST /api/v1/endpoints/<uuid>/scale/"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    ap.add_argument("--sqlite", action="store_true")
    ap.add_argument("--teams", type=int, default=100)
    ap.add_argument("--endpoints", type=int, default=1000)
    ap.add_argument("--member-of", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--first", action="store_true", help="first vs second request per page")
    ap.add_argument("--no-warm", action="store_true", help="with --first: no warm_process()")
    ap.add_argument(
        "--profile",
        metavar="FILE",
        help="cProfile the measured rounds into FILE (pstats; the CPU figures then include "
        "the profiler's own cost)",
    )
    ap.add_argument(
        "--only",
        metavar="REGEX",
        help="measure only the page shapes matching REGEX (e.g. 'endpoints/<uuid>/$', 'scale')",
    )
    args = ap.parse_args()
    if not args.sqlite and not args.database_url.startswith("postgres"):
        raise SystemExit("give a PostgreSQL --database-url, or --sqlite")
    work = Path(tempfile.mkdtemp(prefix="page-cpu-"))
    url = web_load._fresh_database(args.database_url, work, args.sqlite)
    os.environ["DATABASE_URL"] = url
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    from django.test import Client

    try:
        seed = web_load._seed(args.teams, args.endpoints, args.member_of)
        paths = web_load._paths(seed)
        session = Client()
        session.cookies["sessionid"] = seed["session"]
        api = Client(HTTP_AUTHORIZATION=f"Token {seed['token']}")
        scales = iter(range(1_000_000))

        def request(p: str) -> float:
            """CPU ms of one request of page `p` ("SCALE": the writers' API scale)."""
            t0 = time.process_time()
            if p == SCALE:
                i = next(scales)
                response = api.post(
                    f"/api/v1/endpoints/{seed['endpoints'][i % len(seed['endpoints'])]}/scale/",
                    {"min_replicas": 1, "max_replicas": 2 + i % 3},
                    content_type="application/json",
                )
                assert response.status_code == 202, (p, response.status_code)
            else:
                response = (api if p.startswith("/api/") else session).get(p)
                assert response.status_code == 200, (p, response.status_code)
            return (time.process_time() - t0) * 1000

        def shape(p: str) -> str:
            return re.sub(r"[0-9a-f-]{36}", "<uuid>", re.sub(r"team-\d+", "<team>", p))

        if args.first:
            if not args.no_warm:
                from portal.warmup import warm_process

                t0 = time.process_time()
                warm_process()
                warm_ms = round((time.process_time() - t0) * 1000, 1)
            one = list({shape(p): p for p in paths}.values()) + [SCALE]
            first = {shape(p): round(request(p), 1) for p in one}
            second = {shape(p): round(request(p), 1) for p in one}
            print(
                json.dumps(
                    {
                        "database": "sqlite" if args.sqlite else "postgresql",
                        "warm_process_cpu_ms": None if args.no_warm else warm_ms,
                        "first_request_cpu_ms": first,
                        "second_request_cpu_ms": second,
                        "load_average": round(os.getloadavg()[0], 1),
                    },
                    indent=2,
                )
            )
            return
        mix = [p for p in paths + [SCALE] if not args.only or re.search(args.only, shape(p))]
        for p in mix:  # warm the per-process caches
            request(p)
        per: dict[str, list[float]] = {}
        profiler = None
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        for _ in range(args.rounds):
            for p in mix:
                per.setdefault(shape(p), []).append(request(p))
        if profiler:
            profiler.disable()
            profiler.dump_stats(args.profile)
        every = [x for k, v in per.items() if k != SCALE for x in v]  # the reads, as before
        print(
            json.dumps(
                {
                    "database": "sqlite" if args.sqlite else "postgresql",
                    "cpu_ms_p50": {k: round(statistics.median(v), 1) for k, v in per.items()},
                    "cpu_ms_mean_of_mix": round(statistics.mean(every), 1) if every else None,
                    "load_average": round(os.getloadavg()[0], 1),
                },
                indent=2,
            )
        )
    finally:
        from django.db import connections

        connections.close_all()
        if not args.sqlite:
            web_load._drop_database(url)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
