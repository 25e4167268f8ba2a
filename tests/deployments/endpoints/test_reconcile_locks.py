"""No row lock across network I/O: while the apply task talks to the apiserver, another
transaction can lock and change the endpoint (and its team) at once. Two overlapping
sync_statuses runs do not both work."""

import os
import threading

import pytest
from django.db import connection, connections, transaction

from deployments import driver
from deployments.endpoints import reconcile
from deployments.endpoints.choices import EndpointStatus, EventKind
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
    monkeypatch.setattr(driver, "cluster_configured", lambda: True)
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

    monkeypatch.setattr(driver, "cluster_configured", lambda: True)
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
    monkeypatch.setattr(driver, "cluster_configured", lambda: True)

    def first_run():
        calls.append("first")
        assert reconcile.sync_statuses() == 0  # the overlapping run returns at once
        calls.append("second skipped")
        return 7

    monkeypatch.setattr(driver, "_sync", lambda product: first_run())
    assert reconcile.sync_statuses() == 7
    assert calls == ["first", "second skipped"]
    assert cache.get(reconcile.SYNC_LOCK) is None  # released: the next run works
    monkeypatch.setattr(driver, "_sync", lambda product: 3)
    assert reconcile.sync_statuses() == 3


def _fake_render(monkeypatch):
    """Render what the push would carry from the row it was given (the replica bounds)."""
    monkeypatch.setattr(
        reconcile.manifests,
        "render",
        lambda endpoint: [{"kind": "InferenceService", "max_replicas": endpoint.max_replicas}],
    )
    monkeypatch.setattr(reconcile.manifests, "unwanted_objects", lambda endpoint: [{"kind": "PDB"}])


@pytest.mark.django_db(transaction=True)
def test_drift_repair_holds_no_row_lock_while_calling_the_apiserver(postgres, monkeypatch):
    ep = EndpointFactory(status=EndpointStatus.READY, generation=3, applied_generation=3)
    cluster = _Cluster(ep.pk, ep.team_id)
    _fake_render(monkeypatch)
    assert reconcile._repair(cluster, ep, ["InferenceService x was changed by hand"]) == 1
    assert cluster.locked == []  # the apply and the delete both found the rows unlocked
    assert ep.events.filter(kind=EventKind.DRIFT, generation=3).count() == 1


class _Recording:
    """A cluster whose first apply runs `during` (an edit arriving mid-push); records every
    push and whether a transaction (so a row lock) was open at that moment."""

    def __init__(self, during):
        self.during, self.pushed, self.in_transaction = during, [], []

    def apply(self, objects, reuse_kinds=()):
        self.in_transaction.append(connection.in_atomic_block)
        self.pushed.append(objects[0]["max_replicas"])
        if len(self.pushed) == 1:
            self.during()

    def delete(self, obj):
        self.in_transaction.append(connection.in_atomic_block)
        return True


@pytest.mark.django_db(transaction=True)
def test_an_edit_during_the_drift_repair_is_not_lost_while_its_apply_is_in_flight(monkeypatch):
    ep = EndpointFactory(status=EndpointStatus.READY, max_replicas=2)
    _fake_render(monkeypatch)

    def scale():  # what services.scale_endpoint writes; its apply is enqueued, not run yet
        Endpoint.objects.filter(pk=ep.pk).update(max_replicas=5, generation=2)

    cluster = _Recording(scale)
    assert reconcile._repair(cluster, ep, ["ScaledObject x was missing"]) == 0
    assert cluster.in_transaction == [False, False]
    ep.refresh_from_db()
    # The edit stands (generation 2, 1-5 replicas) and its own apply pushes it next: the
    # repair neither recorded itself for it nor pushed again.
    assert (ep.generation, ep.applied_generation, ep.max_replicas) == (2, 1, 5)
    assert cluster.pushed == [2]
    assert not ep.events.filter(kind=EventKind.DRIFT).exists()


@pytest.mark.django_db(transaction=True)
def test_an_edit_applied_during_the_drift_repair_is_pushed_again(monkeypatch):
    """The edit's apply landed while the repair's older push was on its way: the repair pushes
    the current objects once more instead of leaving the older ones in the cluster."""
    ep = EndpointFactory(status=EndpointStatus.READY, max_replicas=2)
    _fake_render(monkeypatch)

    def edit_and_apply():
        Endpoint.objects.filter(pk=ep.pk).update(max_replicas=5, generation=2, applied_generation=2)

    cluster = _Recording(edit_and_apply)
    assert reconcile._repair(cluster, ep, ["ScaledObject x was missing"]) == 1
    assert cluster.pushed == [2, 5]
    assert set(cluster.in_transaction) == {False}
    ep.refresh_from_db()
    assert (ep.generation, ep.max_replicas) == (2, 5)
    assert ep.events.filter(kind=EventKind.DRIFT, generation=2).count() == 1
