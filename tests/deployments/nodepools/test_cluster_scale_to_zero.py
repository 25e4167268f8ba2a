"""Scale to zero and back through the real KEDA path, on nodes made by the real Karpenter.

Real: kube-apiserver, kube-controller-manager, kube-scheduler, the KServe controller and its
webhooks, the KEDA operator (its cron trigger decides, in its own process, on its own clock),
Karpenter's provisioner and its emptiness consolidation (KWOK provider), and an empty
Prometheus that KEDA's prometheus trigger queries (no demand: the trigger is inactive, not in
error). Played: the kubelet (FakeKubelet: a 2 s weights download) and the KWOKNodeClass's Ready.

No clock is frozen and no hour is assumed: the windows are computed from the moment the test
runs (in a time zone with a half-hour offset, every day of the week), so the cron trigger opens
at the next whole minute whatever the day or hour.
"""

import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from deployments.endpoints import manifests as endpoint_manifests
from deployments.endpoints.choices import EndpointStatus
from deployments.nodepools import manifests
from tests.deployments.cluster_helpers import (
    deployment,
    endpoint_body,
    pods,
    real_controllers,
    request_endpoint,
    sync_until,
    wait_for,
)
from tests.deployments.nodepools.karpenter_helpers import (
    claims,
    l40s_catalog,
    node_of,
    start_pools,
)

pytestmark = pytest.mark.cluster
TZ = "Asia/Kolkata"  # UTC+05:30: the trigger's own time zone, not the machine's
DOWNLOAD_SECONDS = 2


@pytest.fixture
def real(request, live_cluster, kube_cluster, fake_gpu_node):
    return real_controllers(request, live_cluster, kube_cluster, fake_gpu_node)


def _hhmm(at: datetime) -> str:
    return at.strftime("%H:%M")


def _local_now() -> datetime:
    return timezone.now().astimezone(ZoneInfo(TZ))


def _patch(api_client, ep, data, capture):
    with capture(execute=True):
        r = api_client.patch(f"/api/v1/endpoints/{ep.uuid}/", data, format="json")
    assert r.status_code == 202, r.content
    ep.refresh_from_db()


def _cron(cluster, ep) -> dict:
    so = cluster.get(
        endpoint_manifests.KEDA_API,
        "ScaledObject",
        endpoint_manifests.scaled_object_name(ep),
        ep.namespace,
    )
    [cron] = [t for t in so["spec"]["triggers"] if t["type"] == "cron"]
    return cron["metadata"]


def _replicas(cluster, ep) -> int | None:
    d = deployment(cluster, ep)
    return None if d is None else d["spec"].get("replicas")


def test_off_hours_scale_the_deployment_to_zero_karpenter_empties_the_node_and_the_window_brings_it_back(  # noqa: E501
    real,
    start_karpenter,
    kube_cluster,
    prometheus_server,
    api_client,
    team,
    llama_8b,
    settings,
    monkeypatch,
    django_capture_on_commit_callbacks,
):
    cluster, kubelet = real["client"], real["kubelet"]
    capture = django_capture_on_commit_callbacks
    # Test-sized waits: KEDA polls every 2 s and cools down 10 s (upstream 30 s / 300 s), an
    # empty node is consolidated after 5 s (the pools say 10 min).
    monkeypatch.setattr(endpoint_manifests, "KEDA_POLLING_SECONDS", 2)
    monkeypatch.setattr(endpoint_manifests, "KEDA_COOLDOWN_SECONDS", 10)
    monkeypatch.setattr(manifests, "CONSOLIDATE_AFTER", "5s")
    settings.KEDA_PROMETHEUS_URL = prometheus_server.url  # real and empty: no demand
    gpu = l40s_catalog()
    start_pools(start_karpenter, kube_cluster, cluster)
    # NodeClaims an earlier test left (its Karpenter stopped before they went) are not ours.
    earlier = {c["metadata"]["name"] for c in claims(cluster)}

    def ours():
        return [c for c in claims(cluster) if c["metadata"]["name"] not in earlier]

    # 1. Working hours now (the pre-warmed start already fired): one replica on a new node.
    now = _local_now()
    body = endpoint_body(
        team,
        llama_8b,
        gpu,
        min_replicas=1,
        max_replicas=1,
        schedule_enabled=True,
        schedule_timezone=TZ,
        schedule_start=_hhmm(now),
        schedule_end=_hhmm(now + timedelta(hours=6)),
        schedule_weekdays_only=False,
    )
    ep = request_endpoint(api_client, body, capture)
    kubelet.slow_init(ep.namespace, DOWNLOAD_SECONDS)
    assert _cron(cluster, ep)["timezone"] == TZ
    sync_until(ep, EndpointStatus.READY, "the first replica Ready on Karpenter's node", 180)
    first_node = node_of(cluster, ep)["metadata"]["name"]
    [first_claim] = ours()
    assert first_claim["status"]["nodeName"] == first_node

    # 2. Off-hours (the window moved three hours ahead): KEDA's ScaledObject takes the
    # Deployment to 0, the replica goes, and Karpenter consolidates the empty node away.
    later = _local_now() + timedelta(hours=3)
    _patch(
        api_client,
        ep,
        {"schedule_start": _hhmm(later), "schedule_end": _hhmm(later + timedelta(hours=1))},
        capture,
    )
    t_off = time.monotonic()
    wait_for(lambda: _replicas(cluster, ep) == 0, "KEDA to scale the Deployment to 0", 120)
    t_zero = time.monotonic()
    wait_for(lambda: not pods(cluster, ep), "the replica to go")
    sync_until(ep, EndpointStatus.SCALED_TO_ZERO, "the endpoint to say it is scaled to zero")
    assert f"back at {_hhmm(later)} {TZ}" in ep.status_message, ep.status_message
    wait_for(lambda: not ours(), "Karpenter to consolidate the empty node", 180)
    wait_for(lambda: cluster.get("v1", "Node", first_node) is None, "the node to be gone")
    print(
        f"off-hours applied -> 0 replicas {t_zero - t_off:.0f}s -> "
        f"empty node consolidated {time.monotonic() - t_zero:.0f}s"
    )

    # 3. The window opens at the next whole minute (the cron start is the working hours'
    # start less the pre-warm lead): KEDA's own trigger brings one replica back, which waits
    # for a new node, and the start is recorded stage by stage.
    opens = (_local_now() + timedelta(seconds=75)).replace(second=0, microsecond=0)
    lead = endpoint_manifests.prewarm_minutes(ep)
    start = opens + timedelta(minutes=lead)
    _patch(
        api_client,
        ep,
        {"schedule_start": _hhmm(start), "schedule_end": _hhmm(start + timedelta(hours=1))},
        capture,
    )
    assert _cron(cluster, ep)["start"] == f"{opens.minute} {opens.hour} * * *"
    assert _replicas(cluster, ep) == 0
    [pod] = wait_for(lambda: pods(cluster, ep), "KEDA's cron trigger to start a replica", 180)
    created = datetime.fromisoformat(pod["metadata"]["creationTimestamp"])
    assert created >= opens - timedelta(seconds=1), (created, opens)  # not before the window
    sync_until(ep, EndpointStatus.READY, "the endpoint Ready again", 180)
    [claim] = ours()
    assert claim["status"]["nodeName"] != first_node
    wait_for(
        lambda: ep.cold_starts.filter(pod_uid=pod["metadata"]["uid"]).exists(),
        "the cold start to be recorded",
    )
    back = ep.cold_starts.get(pod_uid=pod["metadata"]["uid"])
    assert back.accepted, back.note
    assert back.node_launched and back.node_name == claim["status"]["nodeName"]
    stages = [
        back.pending_at,
        back.node_launched_at,
        back.node_ready_at,
        back.scheduled_at,
        back.weights_ready_at,
        back.engine_ready_at,
    ]
    assert None not in stages, stages
    assert stages == sorted(stages), stages
    assert back.weights_seconds >= DOWNLOAD_SECONDS - 1
    assert back.seconds == int((back.engine_ready_at - back.pending_at).total_seconds())
    print(
        "0 -> 1 from KEDA's cron trigger: "
        + ", ".join(
            f"{name} +{(at - back.pending_at).total_seconds():.0f}s"
            for name, at in zip(
                ("pending", "node launched", "node ready", "scheduled", "weights", "ready"),
                stages,
                strict=True,
            )
        )
    )
    timeline = " | ".join(ep.events.order_by("created_at").values_list("message", flat=True))
    assert "Scaled to zero (off-hours" in timeline, timeline
    assert f"Start of pod {pod['metadata']['name']}" in timeline, timeline
