"""The Pods tab on the real apiserver with the real KServe controller, KEDA and
kube-controller-manager/scheduler; only the kubelet is played (tests/infra FakeKubelet).

The predictor pods are listed by label (`ClusterClient.predictor_pods`), with phase,
readiness, restarts, node and the last termination (an OOM kill played by the kubelet). The
fake kubelet serves no logs: the apiserver's log request fails and the page says so calmly."""

import pytest
from django.urls import reverse

from deployments.endpoints.choices import EndpointStatus
from deployments.models import Endpoint
from tests.deployments.cluster_helpers import node_for, pods, real_controllers, sync_until, wait_for

pytestmark = pytest.mark.cluster


@pytest.fixture
def real(request, live_cluster, kube_cluster, fake_gpu_node):
    return real_controllers(request, live_cluster, kube_cluster, fake_gpu_node)


def test_pods_tab_lists_the_predictor_pods_with_their_state(
    real, api_client, member_client, team, llama_8b, gpu_l4, django_capture_on_commit_callbacks
):
    client, kubelet = real["client"], real["kubelet"]
    body = {
        "team": team.slug,
        "name": "chat",
        "model": llama_8b.slug,
        "gpu_type": gpu_l4.name,
        "gpu_count": 1,
        "quantization": "bf16",
        "kv_cache_dtype": "auto",
        "max_context_length": 8192,
        "min_replicas": 1,
        "max_replicas": 1,
        "target_queue_depth": 4,
        "capacity_type": "on-demand",
    }
    with django_capture_on_commit_callbacks(execute=True):
        r = api_client.post("/api/v1/endpoints/", body, format="json")
    assert r.status_code in (201, 202), r.content
    ep = Endpoint.objects.get(uuid=r.json()["uuid"])
    url = reverse("deployments:endpoint_pods", args=[ep.uuid])

    page = member_client.get(url).content.decode()
    assert "No predictor pod right now" in page  # applied, no pod yet

    node = node_for(real, ep)
    sync_until(ep, EndpointStatus.READY, "the endpoint to become Ready", timeout=90)
    [pod] = client.predictor_pods(ep.namespace, str(ep.uuid))
    assert pod == pods(client, ep)[0]
    name = pod["metadata"]["name"]
    kubelet.restart_container(ep.namespace, name, "kserve-container", "OOMKilled", 137)

    def restarted():  # the played kubelet has written the restart (not just any status)
        [pod] = client.predictor_pods(ep.namespace, str(ep.uuid))
        statuses = pod["status"].get("containerStatuses") or []
        return any(
            s["name"] == "kserve-container"
            and s.get("restartCount", 0) >= 1
            and s.get("ready")
            and (s.get("lastState") or {}).get("terminated")
            for s in statuses
        )

    wait_for(restarted, "the restart to show")

    page = member_client.get(url).content.decode()
    row = page[page.index(f"<code>{name}</code>") :]
    row = row[: row.index("</tr>")]
    assert "<td>Running" in row
    assert 'badge-green">Ready' in row
    assert '<td class="num">1</td>' in row  # one restart
    assert f"<td>{node}</td>" in row
    assert "OOMKilled (exit 137)" in row
    # The fake kubelet serves no logs; the page says so instead of failing.
    assert "This cluster does not serve the pod&#x27;s log" in page

    partial = member_client.get(url, headers={"HX-Request": "true"})
    assert partial.status_code == 200
    assert partial.content.decode().lstrip().startswith('<section class="card" id="endpoint-pods"')
