"""No row lock across network I/O: while the apply task talks to the apiserver, another
transaction can lock and change the endpoint (and its team) at once. Two overlapping
sync_statuses runs do not both work."""

import os
import threading

import pytest
from django.db import connections, transaction

from deployments import reconcile
from deployments.choices import EndpointStatus
from deployments.models import Endpoint
from portal.models import Team
from tests.factories import EndpointFactory
from tests.infra.fixtures import services_required


class _Cluster:
    """Stands in for the apiserver; on each call, checks from another connection that nothing
    we hold is locked."""

    def __init__(self, endpoint_pk, team_pk):
        self.endpoint_pk, self.team_pk, self.locked = endpoint_pk, team_pk, []

    def _probe(self):
        def run():
            try:
                with transaction.atomic():
                    Endpoint.objects.select_for_update(nowait=True).get(pk=self.endpoint_pk)
                    Team.objects.select_for_update(nowait=True).get(pk=self.team_pk)
            except Exception as exc:  # noqa: BLE001 (psycopg LockNotAvailable -> DatabaseError)
                self.locked.append(type(exc).__name__)
            finally:
                connections.close_all()

        thread = threading.Thread(target=run)
        thread.start()
        thread.join(timeout=30)

    def apply(self, objects, reuse_kinds=()):
        self._probe()

    def delete(self, obj):
        self._probe()
        return True


@pytest.fixture
def postgres():
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        if services_required():
            pytest.fail("MODELPORT_REQUIRE_SERVICES=1 and DATABASE_URL is not PostgreSQL")
        pytest.skip("row locks need PostgreSQL (scripts/services.sh start)")


@pytest.mark.django_db(transaction=True)
def test_apply_holds_no_row_lock_while_calling_the_apiserver(postgres, monkeypatch):
    ep = EndpointFactory(status=EndpointStatus.APPROVED, generation=1, applied_generation=0)
    cluster = _Cluster(ep.pk, ep.team_id)
    monkeypatch.setattr(reconcile, "cluster_configured", lambda: True)
    monkeypatch.setattr(reconcile.ClusterClient, "from_settings", classmethod(lambda cls: cluster))
    monkeypatch.setattr(reconcile.manifests, "check_renderable", lambda endpoint: None)
    monkeypatch.setattr(reconcile.manifests, "render", lambda endpoint: [])
    assert reconcile.apply_endpoint(ep.pk, 1) == "applied"
    assert cluster.locked == []
    ep.refresh_from_db()
    assert ep.applied_generation == 1 and ep.status == EndpointStatus.PROVISIONING


@pytest.mark.django_db(transaction=True)
def test_a_push_superseded_meanwhile_is_not_recorded(monkeypatch):
    ep = EndpointFactory(status=EndpointStatus.APPROVED, generation=1, applied_generation=0)

    class Bumping(_Cluster):
        def apply(self, objects, reuse_kinds=()):
            Endpoint.objects.filter(pk=ep.pk).update(generation=2)

    monkeypatch.setattr(reconcile, "cluster_configured", lambda: True)
    monkeypatch.setattr(
        reconcile.ClusterClient, "from_settings", classmethod(lambda cls: Bumping(ep.pk, 0))
    )
    monkeypatch.setattr(reconcile.manifests, "check_renderable", lambda endpoint: None)
    monkeypatch.setattr(reconcile.manifests, "render", lambda endpoint: [])
    assert reconcile.apply_endpoint(ep.pk, 1) == "superseded"
    ep.refresh_from_db()
    assert ep.applied_generation == 0 and ep.status == EndpointStatus.APPROVED


@pytest.mark.django_db
def test_overlapping_sync_runs_do_not_both_work(monkeypatch):
    from django.core.cache import cache

    calls = []
    monkeypatch.setattr(reconcile, "cluster_configured", lambda: True)

    def first_run():
        calls.append("first")
        assert reconcile.sync_statuses() == 0  # the overlapping run returns at once
        calls.append("second skipped")
        return 7

    monkeypatch.setattr(reconcile, "_sync_all", first_run)
    assert reconcile.sync_statuses() == 7
    assert calls == ["first", "second skipped"]
    assert cache.get(reconcile.SYNC_LOCK) is None  # released: the next run works
    monkeypatch.setattr(reconcile, "_sync_all", lambda: 3)
    assert reconcile.sync_statuses() == 3
