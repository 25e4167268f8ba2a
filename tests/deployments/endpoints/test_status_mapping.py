"""The pure status mapping against the KServe v0.20 status shapes (tests/deployments/
kserve_shapes.py) and the scaled-to-zero wording (time zone of the schedule, frozen clock)."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from deployments.endpoints import observe, schedule
from deployments.endpoints.choices import EndpointStatus
from tests.deployments.kserve_shapes import (
    CRASH_LOOP_DEPLOYMENT,
    CRASH_LOOP_POD,
    CRASH_LOOP_STATUS,
    SHAPES,
    STOPPED_CONDITIONS,
    URL,
)

pytestmark = pytest.mark.dates


def _isvc(status, stop="false", generation=1):
    status = dict(status)
    if status:
        status.setdefault("observedGeneration", generation)
    return {
        "metadata": {
            "generation": generation,
            "annotations": {"serving.kserve.io/stop": stop},
        },
        "status": status,
    }


@pytest.mark.parametrize("name, status, deployment, expected", SHAPES, ids=[s[0] for s in SHAPES])
def test_every_controller_shape_maps_to_the_right_status(name, status, deployment, expected):
    observed = observe.status_from(_isvc(status), deployment)
    assert observed is not None
    assert observed.status == expected, observed.message


def test_ready_true_with_no_replica_ready_is_never_ready():
    """The shape that made the old mapping report Ready while the model was still loading."""
    for name, status, deployment, _ in SHAPES:
        if deployment and not deployment["status"].get("readyReplicas"):
            observed = observe.status_from(_isvc(status), deployment)
            assert observed.status != EndpointStatus.READY, name


def _shape(name):
    [shape] = [s for s in SHAPES if s[0] == name]
    return shape


def test_the_url_comes_from_status_url():
    name, status, deployment, _ = _shape("cold-start: serving")
    assert observe.status_from(_isvc(status), deployment).url == URL


def test_a_rejected_deployment_shows_the_apiservers_message():
    [shape] = [s for s in SHAPES if "rejected" in s[0]]
    observed = observe.status_from(_isvc(shape[1]), None)
    assert "must be less than or equal to cpu limit of 1" in observed.message


def test_rollout_is_explained():
    [shape] = [s for s in SHAPES if s[0].startswith("rollout: new template")]
    observed = observe.status_from(_isvc(shape[1]), shape[2])
    assert observed.message == "Rolling out: 0 of 1 replicas updated, 0 ready."


def test_stop_maps_to_stopped_once_kserve_reports_it():
    stopped = {"conditions": STOPPED_CONDITIONS}
    assert observe.status_from(_isvc(stopped, stop="true"), None).status == "stopped"
    ready = _shape("cold-start: serving")[1]
    assert observe.status_from(_isvc(ready, stop="true"), None) is None  # not yet
    assert observe.status_from(_isvc(stopped, stop="false"), None) is None  # start pending


def test_a_crash_loop_kserve_calls_loaded_is_failed_from_the_pod():
    observed = observe.status_from(
        _isvc(CRASH_LOOP_STATUS), CRASH_LOOP_DEPLOYMENT, pods=[CRASH_LOOP_POD]
    )
    assert observed.status == EndpointStatus.FAILED
    assert observed.message == (
        "vLLM keeps crashing (Error, exit code 1; restarted 1 times) in pod "
        "chat-predictor-749fb8447-x2x9p."
    )
    # without the pods it is (honestly) still starting, never Ready
    observed = observe.status_from(_isvc(CRASH_LOOP_STATUS), CRASH_LOOP_DEPLOYMENT)
    assert observed.status == EndpointStatus.PROVISIONING


def test_a_crash_loop_beside_a_ready_replica_keeps_serving():
    two = {**CRASH_LOOP_DEPLOYMENT, "spec": {"replicas": 2}}
    two = {
        **two,
        "status": {**two["status"], "replicas": 2, "updatedReplicas": 2, "readyReplicas": 1},
    }
    observed = observe.status_from(_isvc(CRASH_LOOP_STATUS), two, pods=[CRASH_LOOP_POD])
    assert observed.status == EndpointStatus.READY


def test_a_download_crash_loop_names_the_download():
    pod = {
        "metadata": {"name": "p"},
        "status": {
            "initContainerStatuses": [
                {
                    "name": "storage-initializer",
                    "restartCount": 3,
                    "lastState": {
                        "terminated": {"exitCode": 1, "reason": "Error", "message": "401"}
                    },
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                }
            ]
        },
    }
    assert observe.crash_looping([pod]).startswith(
        "The model download keeps crashing (Error, exit code 1: 401; restarted 3 times)"
    )


# --- scaled to zero, honestly --------------------------------------------------------------


def _zero(endpoint, now):
    [shape] = [s for s in SHAPES if s[0].startswith("scaled to zero")]
    return observe.status_from(_isvc(shape[1]), shape[2], endpoint=endpoint, now=now)


def test_off_hours_zero_says_when_it_is_back_in_the_schedules_time_zone(scheduled):
    # Tuesday 2026-12-01 05:10 UTC = 06:10 in Berlin; working hours 08:00-18:30 weekdays.
    observed = _zero(scheduled, datetime(2026, 12, 1, 5, 10, tzinfo=UTC))
    assert observed.status == EndpointStatus.SCALED_TO_ZERO
    assert observed.message.startswith(
        "Scaled to zero (off-hours, back at 08:00 Europe/Berlin). Requests fail until then"
    )
    assert observed.status != EndpointStatus.READY


def test_friday_evening_zero_is_back_on_monday(scheduled):
    # Friday 2026-12-04 19:00 UTC = 20:00 in Berlin.
    observed = _zero(scheduled, datetime(2026, 12, 4, 19, 0, tzinfo=UTC))
    assert "back at 08:00 on Monday Europe/Berlin" in observed.message


def test_overnight_window(scheduled):
    from datetime import time

    scheduled.schedule_start, scheduled.schedule_end = time(22, 0), time(6, 0)
    # Wednesday 2026-12-02 03:00 Berlin (02:00 UTC): inside the Tuesday-night window.
    assert schedule.in_working_hours(scheduled, datetime(2026, 12, 2, 2, 0, tzinfo=UTC))
    # Wednesday 12:00 Berlin: outside; back at 22:00 the same day.
    msg = observe.scaled_to_zero_message(scheduled, datetime(2026, 12, 2, 11, 0, tzinfo=UTC))
    assert "back at 22:00 Europe/Berlin" in msg


def test_zero_inside_working_hours_is_not_called_off_hours(scheduled):
    # Tuesday 10:00 Berlin: the cron holds replicas, yet none runs (e.g. waiting for a node).
    observed = _zero(scheduled, datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    assert observed.status == EndpointStatus.SCALED_TO_ZERO
    assert "off-hours" not in observed.message
    assert "Requests fail" in observed.message


# --- the shapes recorded from the real controller (tests/deployments/endpoints/test_cluster_kserve.py) --

RECORDED = Path(__file__).parent / "recorded" / "kserve-v0.20-status.json"
# phase -> (statuses any shape of the phase may map to, what its last shape must map to)
PHASES = {
    "cold-start/created": ({EndpointStatus.PROVISIONING}, EndpointStatus.PROVISIONING),
    "cold-start/loading": ({EndpointStatus.PROVISIONING}, EndpointStatus.PROVISIONING),
    "cold-start/ready": ({EndpointStatus.READY}, EndpointStatus.READY),
    "failed-start": ({EndpointStatus.PROVISIONING, EndpointStatus.FAILED}, EndpointStatus.FAILED),
    "stop": ({None, EndpointStatus.STOPPED}, EndpointStatus.STOPPED),
    "start": ({EndpointStatus.PROVISIONING, EndpointStatus.READY}, EndpointStatus.READY),
}


@pytest.mark.parametrize("phase", sorted(PHASES))
def test_every_recorded_shape_maps_as_its_phase_requires(phase):
    recorded = json.loads(RECORDED.read_text())
    allowed, last = PHASES[phase]
    mapped = []
    for shape in recorded[phase]:
        obj = {
            "metadata": {"generation": 1, "annotations": shape["annotations"]},
            "status": shape["status"],
        }
        dep = shape["deployment"]
        if dep is not None:
            dep = {"metadata": {"generation": 1}, **dep}
        observed = observe.status_from(obj, dep, pods=shape["pods"])
        mapped.append(None if observed is None else observed.status)
    assert set(mapped) <= allowed, mapped
    assert mapped[-1] == last, mapped


def test_the_recording_holds_the_shapes_that_fooled_the_old_mapping():
    """KServe said Ready=True while the model was loading and while vLLM crash-looped."""
    recorded = json.loads(RECORDED.read_text())
    for phase in ("cold-start/loading", "failed-start"):
        ready = [
            c["status"]
            for shape in recorded[phase]
            for c in shape["status"]["conditions"]
            if c["type"] == "Ready"
        ]
        assert "True" in ready, phase


# --- ready pods ahead of the Deployment's counts (a burst: the controllers write them late) ---

DEPLOYMENT = "chat-predictor"


def _lagging(replicas=1, updated=None, total=None, generation=1, observed=1):
    """The predictor Deployment whose status has not yet counted its ready pods."""
    return {
        "metadata": {"name": DEPLOYMENT, "generation": generation},
        "spec": {"replicas": replicas},
        "status": {
            "observedGeneration": observed,
            "replicas": replicas if total is None else total,
            "updatedReplicas": replicas if updated is None else updated,
            "readyReplicas": 0,
        },
    }


def _pod(ready=True, owner=f"{DEPLOYMENT}-749fb8447", deleting=False, name="p"):
    meta = {"name": name, "ownerReferences": [{"kind": "ReplicaSet", "name": owner}]}
    if deleting:
        meta["deletionTimestamp"] = "2026-12-01T08:01:00Z"
    cond = {"type": "Ready", "status": "True" if ready else "False"}
    return {"metadata": meta, "status": {"phase": "Running", "conditions": [cond]}}


def _serving_isvc():
    return _isvc(_shape("cold-start: serving")[1])


def test_a_ready_pod_counts_before_the_deployment_says_so():
    observed = observe.status_from(_serving_isvc(), _lagging(), pods=[_pod()])
    assert observed.status == EndpointStatus.READY
    assert observed.message == "Serving."
    assert observe.status_from(_serving_isvc(), _lagging(), pods=[_pod(ready=False)]).status == (
        EndpointStatus.PROVISIONING
    )


def test_ready_pods_count_up_to_the_desired_replicas():
    two = [_pod(name="a"), _pod(ready=False, name="b")]
    observed = observe.status_from(_serving_isvc(), _lagging(replicas=2), pods=two)
    assert observed.message == "Serving (1 of 2 replicas ready)."
    many = [_pod(name=str(i)) for i in range(3)]
    observed = observe.status_from(_serving_isvc(), _lagging(replicas=2), pods=many)
    assert observed.message == "Serving."


@pytest.mark.parametrize(
    "deployment, pod",
    [
        # mid-rollout: pods of the old template are still active
        (_lagging(total=2), _pod()),
        # the Deployment controller has not seen the current spec yet
        (_lagging(generation=2, observed=1), _pod()),
        # the new ReplicaSet has not been counted yet
        (_lagging(updated=0), _pod()),
        # a pod on its way out, or one another Deployment owns
        (_lagging(), _pod(deleting=True)),
        (_lagging(), _pod(owner="other-predictor-749fb8447")),
        (_lagging(), _pod(owner=DEPLOYMENT)),
    ],
    ids=["old-pods-active", "behind", "not-updated", "deleting", "other-owner", "bare-name"],
)
def test_pods_count_only_when_they_are_all_of_the_current_template(deployment, pod):
    observed = observe.status_from(_serving_isvc(), deployment, pods=[pod])
    assert observed.status != EndpointStatus.READY, observed.message
