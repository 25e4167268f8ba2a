"""The one apply/sync driver (deployments.driver): the same outcomes, errors, lock and
per-namespace loop for every product, over a product that only records what it is asked."""

from types import SimpleNamespace

import pytest

from deployments import driver
from deployments.driver import Applied, Missing, Outcome
from deployments.endpoints.choices import EndpointStatus
from deployments.models import Endpoint
from deployments.workloads.errors import PermanentClusterError, TransientClusterError
from tests.factories import EndpointFactory

pytestmark = pytest.mark.django_db


class Row(SimpleNamespace):
    pass


class Product(driver.Product):
    """A product whose rows live in a dict; records every hook call."""

    kind = "thing"
    model = Endpoint
    sync_lock = "tests:driver-sync"

    def __init__(self, rows=(), push=None, live=None):
        self.rows = {r.pk: r for r in rows}
        self.pushes, self.recorded_applied, self.failed = [], [], []
        self.observed, self.repaired = [], []
        self._push, self.live = push, live or {}

    def load(self, pk):
        return self.rows.get(pk)

    def applicable(self, row):
        return row.status != "rejected"

    def render(self, row):
        return []

    def push(self, client, row):
        self.pushes.append(row.pk)
        if self._push:
            self._push(row)
        return Applied("provisioning", "pushed", deleted=row.status == "deleting")

    def no_cluster(self, row):
        return Applied("not-deployed", "no cluster")

    def record_applied(self, row, generation, applied):
        if row.applied_generation >= generation:
            return False
        row.applied_generation, row.status = generation, applied.status
        self.recorded_applied.append((row.pk, applied.status))
        return True

    def record_failed(self, row, generation, message):
        self.failed.append((row.pk, message))
        return True

    def observable(self):
        return list(self.rows.values())

    def read(self, client, namespace, rows):
        if namespace in self.live and isinstance(self.live[namespace], Exception):
            raise self.live[namespace]
        return {r.pk: self.live.get(namespace, {}).get(r.pk) for r in rows}

    def observe(self, row, live):
        if live is None:
            return Missing((f"{row.pk} missing",))
        return live if live != row.status else None

    def record(self, row, observation):
        row.status = observation
        self.observed.append((row.pk, observation))
        return True

    def repair(self, client, row, problems):
        self.repaired.append(problems)
        return 1


def _row(pk=1, generation=1, applied=0, status="approved", namespace="mp-a"):
    return Row(
        pk=pk, generation=generation, applied_generation=applied, status=status, namespace=namespace
    )


@pytest.fixture
def cluster(fake_cluster):
    return fake_cluster


@pytest.mark.parametrize(
    ("row", "generation", "outcome"),
    [
        (None, 1, Outcome.GONE),
        (_row(generation=2), 1, Outcome.STALE),
        (_row(applied=1), 1, Outcome.ALREADY_APPLIED),
        (_row(status="rejected"), 1, Outcome.NOT_APPLICABLE),
    ],
)
def test_an_apply_with_nothing_to_do_says_why_and_pushes_nothing(cluster, row, generation, outcome):
    product = Product([row] if row else [])
    assert driver.apply(product, 1, generation) == outcome
    assert product.pushes == [] and product.recorded_applied == []


def test_an_apply_pushes_records_and_a_second_run_is_a_no_op(cluster):
    product = Product([_row()])
    assert driver.apply(product, 1, 1) == Outcome.APPLIED
    assert driver.apply(product, 1, 1) == Outcome.ALREADY_APPLIED
    assert product.pushes == [1] and product.recorded_applied == [(1, "provisioning")]


def test_an_apply_that_removed_the_objects_says_deleted(cluster):
    assert driver.apply(Product([_row(status="deleting")]), 1, 1) == Outcome.DELETED


def test_a_push_superseded_before_it_was_recorded_says_so(cluster):
    row = _row()
    product = Product([row], push=lambda r: setattr(r, "applied_generation", 1))
    assert driver.apply(product, 1, 1) == Outcome.SUPERSEDED
    assert product.recorded_applied == []


def test_without_a_cluster_nothing_is_pushed_and_the_stand_in_status_recorded(no_cluster):
    product = Product([_row()])
    assert driver.apply(product, 1, 1) == Outcome.NO_CLUSTER
    assert product.pushes == [] and product.recorded_applied == [(1, "not-deployed")]


def test_a_permanent_error_records_failed_and_is_not_raised(cluster):
    def refuse(row):
        raise PermanentClusterError("admission webhook denied it")

    product = Product([_row()], push=refuse)
    assert driver.apply(product, 1, 1) == Outcome.FAILED
    assert product.failed == [(1, "admission webhook denied it")]


def test_a_transient_error_notes_the_attempt_on_the_row_and_is_raised_for_a_retry(cluster):
    ep = EndpointFactory(status=EndpointStatus.APPROVED, generation=1, applied_generation=0)

    def down(row):
        raise TransientClusterError("connection refused")

    product = Product([_row(pk=ep.pk)], push=down)
    with pytest.raises(TransientClusterError):
        driver.apply(product, ep.pk, 1)
    ep.refresh_from_db()
    assert ep.status_message == "Cluster not reachable, retrying: connection refused"
    assert product.recorded_applied == [] and product.failed == []


def test_sync_without_a_cluster_observes_nothing(no_cluster):
    product = Product([_row(applied=1)])
    assert driver.sync(product) == 0 and product.observed == []


def test_sync_records_changes_repairs_missing_objects_and_skips_a_failing_namespace(cluster):
    rows = [
        _row(pk=1, applied=1, namespace="mp-a"),  # changed
        _row(pk=2, applied=1, namespace="mp-a", status="ready"),  # unchanged
        _row(pk=3, applied=1, namespace="mp-a"),  # missing in the cluster
        _row(pk=4, applied=1, namespace="mp-b"),  # namespace unreachable
    ]
    live = {"mp-a": {1: "ready", 2: "ready"}, "mp-b": TransientClusterError("timeout")}
    product = Product(rows, live=live)
    assert driver.sync(product) == 2  # one recorded, one repaired
    assert product.observed == [(1, "ready")]
    assert product.repaired == [("3 missing",)]
    assert driver.sync(product) == 1  # the second run changes only what is still missing


def test_a_sync_that_starts_while_another_works_returns_at_once(cluster):
    from django.core.cache import cache

    product = Product([_row(applied=1)], live={"mp-a": {1: "ready"}})
    cache.add(product.sync_lock, 1, 60)
    try:
        assert driver.sync(product) == 0 and product.observed == []
    finally:
        cache.delete(product.sync_lock)
    assert driver.sync(product) == 1


def test_a_product_missing_a_hook_every_product_must_write_cannot_be_made():
    # Product (ABC): the hooks without a sensible default are abstract.
    assert {"load", "render", "push", "observe", "record", "repair"} <= (
        driver.Product.__abstractmethods__
    )

    class Half(driver.Product):
        kind, model, sync_lock = "half", Endpoint, "tests:half"

        def load(self, pk):
            return None

    with pytest.raises(TypeError, match="abstract"):
        Half()
    assert Product().applicable(Row(status="approved"))  # a default hook stays a default
