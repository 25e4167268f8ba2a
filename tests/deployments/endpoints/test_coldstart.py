"""The stage arithmetic of one start (deployments.endpoints.coldstart): pure, on fixed
timestamps, no clock."""

from datetime import UTC, datetime, timedelta

import pytest

from deployments.endpoints import coldstart
from deployments.workloads import sizing
from tests.deployments.endpoints.coldstart_pods import node, nodeclaim, pod

AT = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def test_a_warm_node_start_has_pending_scheduled_weights_and_engine_stages():
    stages = coldstart.measure(pod(AT, created=0, scheduled=2, weights=95, ready=160))
    assert isinstance(stages, coldstart.Stages)
    assert stages.seconds == 160
    assert stages.steps() == [("scheduled", 2), ("weights ready", 93), ("engine ready", 65)]
    assert not stages.node_launched and not stages.cached


def test_a_node_older_than_the_pod_gives_no_node_stages():
    old_node = node(AT, created=-3600, ready=-3500)
    stages = coldstart.measure(pod(AT, created=0, scheduled=1, weights=50, ready=80), old_node)
    assert stages.node_launched_at is None and stages.node_ready_at is None
    assert [name for name, _ in stages.steps()] == ["scheduled", "weights ready", "engine ready"]


def test_a_node_launched_for_the_pod_adds_launch_and_ready_from_the_nodeclaim():
    new_node = node(AT, created=40, ready=75, pool="gpu-l4-spot")
    claim = nodeclaim(AT, created=3)
    stages = coldstart.measure(
        pod(AT, created=0, scheduled=80, weights=200, ready=260), new_node, claim
    )
    assert stages.node_launched
    assert stages.steps() == [
        ("node launched", 3),
        ("node ready", 72),
        ("scheduled", 5),
        ("weights ready", 120),
        ("engine ready", 60),
    ]
    assert stages.seconds == 260
    assert "on a new node: 4 min 20 s" in stages.sentence()


def test_without_a_nodeclaim_the_nodes_creation_stands_for_its_launch():
    stages = coldstart.measure(
        pod(AT, created=0, scheduled=70, weights=90, ready=100), node(AT, created=10, ready=60)
    )
    assert stages.node_launched_at == AT + timedelta(seconds=10)


def test_a_cached_pod_has_no_weights_stage():
    stages = coldstart.measure(pod(AT, created=0, scheduled=1, weights=None, ready=30, cached=True))
    assert stages.cached and stages.weights_ready_at is None
    assert stages.steps() == [("scheduled", 1), ("engine ready", 29)]
    assert "weights from the node's model cache" in stages.sentence()


def test_a_pod_not_ready_is_not_measured():
    assert coldstart.measure(pod(AT, created=0, scheduled=1, weights=20, ready=None)) is None


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"scheduled": None}, "no 'scheduled' time"),
        ({"scheduled": 30, "ready": 10}, "out of order"),
        ({"weights": 200, "ready": 100}, "out of order"),
        ({"ready": coldstart.MAX_COLD_START_SECONDS + 1}, "longer than any start"),
        ({"restarts": 1}, "the engine restarted"),
    ],
)
def test_stages_that_do_not_support_a_figure_are_refused_with_the_reason(kwargs, reason):
    shape = {"created": 0, "scheduled": 2, "weights": 50, "ready": 100, **kwargs}
    measured = coldstart.measure(pod(AT, **shape))
    assert isinstance(measured, coldstart.Unsupported)
    assert reason in measured.reason


def test_a_pod_older_than_the_endpoint_is_refused():
    measured = coldstart.measure(
        pod(AT, created=0, scheduled=1, weights=20, ready=40),
        not_before=AT + timedelta(seconds=5),
    )
    assert isinstance(measured, coldstart.Unsupported)
    assert "older than the endpoint" in measured.sentence()


def test_a_pod_made_in_the_endpoints_own_second_is_not_older_than_it():
    """Kubernetes stamps creationTimestamp in whole seconds; the endpoint's created_at has
    microseconds: a pod made 0.3 s after the endpoint reads as 0.7 s before it."""
    measured = coldstart.measure(
        pod(AT, created=0, scheduled=1, weights=20, ready=40),
        not_before=AT + timedelta(microseconds=700_000),
    )
    assert isinstance(measured, coldstart.Stages) and measured.seconds == 40


def test_percentile_is_nearest_rank_on_observed_values():
    values = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    assert coldstart.percentile(values, 50) == 50
    assert coldstart.percentile(values, 95) == 100
    assert coldstart.percentile([7], 95) == 7
    assert coldstart.percentile([], 95) is None


RES = sizing.pod_resources(8, "bf16", 1)


def test_no_history_plans_with_the_estimate_and_says_so():
    plan = coldstart.plan([], RES)
    assert plan.source == "estimated" and not plan.measured
    assert plan.from_zero_seconds == RES.cold_start_seconds
    assert plan.warm_seconds == RES.cold_start_seconds - 420
    assert "estimated from the model size" in plan.sentence()


def test_history_with_new_nodes_plans_with_their_p95():
    samples = [coldstart.Sample(s, True) for s in (200, 210, 230, 240)] + [
        coldstart.Sample(40, False),
        coldstart.Sample(45, False),
    ]
    plan = coldstart.plan(samples, RES)
    assert (plan.from_zero_seconds, plan.warm_seconds, plan.source) == (240, 45, "measured")
    assert plan.sentence() == (
        "about 4 min from zero for this model on this GPU, 45 s when a node is warm "
        "(measured: p95 of 6 starts)"
    )
    assert (plan.p50_seconds, plan.p95_seconds) == (200, 240)


def test_history_on_warm_nodes_only_adds_the_estimated_node_launch():
    plan = coldstart.plan([coldstart.Sample(40, False)], RES)
    assert plan.warm_seconds == 40
    assert plan.from_zero_seconds == 40 + sizing.NODE_SECONDS + sizing.IMAGE_PULL_SECONDS
    assert "plus an estimated node launch" in plan.sentence()


@pytest.mark.parametrize(
    ("seconds", "text"), [(42, "42 s"), (192, "3 min 12 s"), (3403, "56 min"), (3900, "1 h 5 min")]
)
def test_durations_read_as_people_say_them(seconds, text):
    assert coldstart.duration(seconds) == text
