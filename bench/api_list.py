"""Benchmark: ``GET /api/v1/endpoints/`` at fleet size on PostgreSQL, against a bare view.

Seeds N endpoints spread over 10 teams (one user, member of every team: every endpoint is
visible, the page shows 50) into a fresh database on ``--database-url`` (PostgreSQL; the
database named there is left alone, a ``test_`` copy is created and dropped), then times, in
one process through the whole middleware stack (Django test client, session auth):

* ``api``: the first page of ``/api/v1/endpoints/`` (DRF viewset, team scoping, filters,
  serializer);
* ``bare``: a plain Django view listing the same 50 rows of the same user's teams (one
  ``values()`` query, ``JsonResponse``) – the least any list of those rows costs, the issue's
  baseline (``ratio``);
* ``same``: a plain Django view answering what the API answers: the same columns through the
  API's own ``values()`` query and the count, ``JsonResponse`` – what the answer itself costs
  without DRF (``ratio_vs_same_answer``);

all three after ``VACUUM ANALYZE`` of the seeded database (a table in steady state, as
autovacuum leaves it), and ``EXPLAIN (ANALYZE)`` of every SQL statement of the API page
(planning and execution time, the largest of each). Prints the medians and the ratio api/bare::

    .venv/bin/python bench/api_list.py --database-url postgres://... --endpoints 1000 10000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

urlpatterns: list = []  # this module is the bench's URLconf (the portal's plus the bare view)


def _bare_view(request):
    from django.http import JsonResponse

    from deployments.models import Endpoint
    from portal.models import Membership

    teams = Membership.objects.filter(user=request.user).values("team_id")
    rows = list(
        Endpoint.objects.filter(team__in=teams)
        .order_by("team__slug", "name")
        .values("uuid", "name", "team__slug", "status", "gpu_count", "min_replicas")[:50]
    )
    return JsonResponse({"results": rows}, json_dumps_params={"default": str})


def _same_view(request):
    """The bare view asked for what the API answers: the API's own rows (the same columns,
    through its values() query: portal.api.lean) and the count, as a plain JsonResponse. No
    DRF, no filters, no value formatting: what the same answer costs without the framework."""
    from django.http import JsonResponse

    from deployments.endpoints.api.serializers import EndpointSerializer
    from deployments.endpoints.api.views import ENDPOINT_LIST_JOINED
    from deployments.endpoints.choices import EndpointStatus
    from deployments.models import Endpoint
    from portal.api.lean import LeanList
    from portal.models import Membership

    teams = Membership.objects.filter(user=request.user).values("team_id")
    mine = Endpoint.objects.filter(team__in=teams).exclude(status=EndpointStatus.DELETED)
    lean = LeanList.for_serializer(EndpointSerializer, joined=ENDPOINT_LIST_JOINED)
    rows = list(lean.values(mine.order_by("team__slug", "name"))[:50])
    return JsonResponse(
        {"count": mine.count(), "results": rows}, json_dumps_params={"default": str}
    )


def _seed(n: int, teams: int = 10):
    from deployments.models import Endpoint
    from tests.factories import EndpointFactory, MembershipFactory, TeamFactory, UserFactory

    user = UserFactory(username="bench")
    template = None
    for t in range(teams):
        team = TeamFactory(name=f"Team {t:02d}", slug=f"team-{t:02d}")
        MembershipFactory(team=team, user=user)
        first = EndpointFactory(team=team, name="ep-00000", **(template or {}))
        template = template or {
            "model": first.model,
            "gpu_type": first.gpu_type,
            "offering": first.offering,
            "requested_by": first.requested_by,
        }
        copies = []
        for i in range(1, n // teams):
            first.pk, first.uuid = None, None
            clone = Endpoint(
                **{f.attname: getattr(first, f.attname) for f in Endpoint._meta.fields}
            )
            clone.pk = None
            clone.uuid = Endpoint._meta.get_field("uuid").default()
            clone.name = f"ep-{i:05d}"
            copies.append(clone)
        Endpoint.objects.bulk_create(copies, batch_size=1000)
    return user


def _timed(client, url: str, rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        resp = client.get(url)
        out.append((time.perf_counter() - t0) * 1000)
        assert resp.status_code == 200, resp.status_code
    return out


def _explain(statements, repeat: int = 5) -> tuple[float, float]:
    """The largest planning and execution times (ms) over the page's statements, each the
    median of ``repeat`` EXPLAIN ANALYZE runs (the machine is shared: one run is noise)."""
    from django.db import connection

    plan = execution = 0.0
    with connection.cursor() as cur:
        for sql, params in statements:
            plans, runs = [], []
            for _ in range(repeat):
                cur.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
                doc = cur.fetchone()[0]
                doc = doc if isinstance(doc, list) else json.loads(doc)
                plans.append(doc[0]["Planning Time"])
                runs.append(doc[0]["Execution Time"])
            if os.environ.get("BENCH_VERBOSE"):
                print(round(statistics.median(plans), 2), sql[:300], file=sys.stderr)
            plan = max(plan, statistics.median(plans))
            execution = max(execution, statistics.median(runs))
    return plan, execution


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    ap.add_argument("--endpoints", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--rounds", type=int, default=41)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not args.database_url.startswith("postgres"):
        raise SystemExit("give a PostgreSQL --database-url (bash scripts/services.sh start)")
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment
    from django.urls import include, path

    urlpatterns[:] = [
        path("bench/bare/", _bare_view),
        path("bench/same/", _same_view),
        path("", include(settings.ROOT_URLCONF)),
    ]
    settings.ROOT_URLCONF = __name__
    settings.ALLOWED_HOSTS = ["*"]
    setup_test_environment()
    results = []
    for n in args.endpoints:
        connection.creation.create_test_db(verbosity=0, keepdb=False)
        try:
            user = _seed(n)
            with connection.cursor() as cur:
                # A table in steady state, as autovacuum leaves it after the bulk insert: the
                # statistics and the visibility map (the count reads the live (team, name)
                # index alone). The same for the three views.
                cur.execute("VACUUM ANALYZE")
            client = Client()
            client.force_login(user)
            api, bare, same = "/api/v1/endpoints/", "/bench/bare/", "/bench/same/"
            for url in (api, bare, same):  # warm up
                _timed(client, url, 3)
            api_ms, bare_ms, same_ms = [], [], []
            for _ in range(args.rounds):  # interleaved, so load spikes hit all alike
                api_ms += _timed(client, api, 1)
                bare_ms += _timed(client, bare, 1)
                same_ms += _timed(client, same, 1)
            with CaptureQueriesContext(connection) as captured:
                client.get(api)
            statements = [
                (q["sql"], None) for q in captured.captured_queries if q["sql"].startswith("SELECT")
            ]
            plan, execution = _explain(statements)
            row = {
                "endpoints": n,
                "api_p50_ms": round(statistics.median(api_ms), 1),
                "bare_p50_ms": round(statistics.median(bare_ms), 1),
                "ratio": round(statistics.median(api_ms) / statistics.median(bare_ms), 2),
                "same_answer_p50_ms": round(statistics.median(same_ms), 1),
                "ratio_vs_same_answer": round(
                    statistics.median(api_ms) / statistics.median(same_ms), 2
                ),
                "queries": len(captured.captured_queries),
                "max_planning_ms": round(plan, 2),
                "max_execution_ms": round(execution, 2),
                "load_average": round(os.getloadavg()[0], 1),
            }
            results.append(row)
            if not args.json:
                print(row, flush=True)
        finally:
            connection.creation.destroy_test_db(settings.DATABASES["default"]["NAME"], verbosity=0)
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
