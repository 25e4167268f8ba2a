"""The Pods tab on the real apiserver with the real KServe controller, KEDA and
kube-controller-manager/scheduler; only the kubelet is played (tests/infra FakeKubelet).

The predictor pods are listed by label (`ClusterClient.predictor_pods`), with phase,
readiness, restarts, node and the last termination (an OOM kill played by the kubelet). The
fake kubelet serves no logs: the apiserver's log request fails and the page says so calmly."""

import pytest
from django.urls import reverse

from deployments.endpoints.choices import EndpointStatus
from tests.deployments.cluster_helpers import (
    endpoint_body,
    node_for,
    pods,
    request_endpoint,
    sync_until,
    wait_for,
)

pytestmark = pytest.mark.cluster


def test_pods_tab_lists_the_predictor_pods_with_their_state(
    real, api_client, member_client, team, llama_8b, gpu_l4, django_capture_on_commit_callbacks
):
    client, kubelet = real["client"], real["kubelet"]
    body = endpoint_body(team, llama_8b, gpu_l4, max_replicas=1)
    ep = request_endpoint(api_client, body, django_capture_on_commit_callbacks)
    url = reverse("deployments:endpoint_pods", args=[ep.uuid])

    # Applied, no GPU node yet: either the controllers have not made the pod yet or it waits
    # unscheduled (on an idle machine the ReplicaSet's pod exists before the page is read).
    page = member_client.get(url).content.decode()
    assert "No predictor pod right now" in page or "— not scheduled" in page
    assert "did not list the pods" not in page

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
