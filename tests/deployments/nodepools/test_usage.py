"""Each pool's nodes, GPUs in use and cost, and the platform team's page that shows them."""

from datetime import UTC, datetime
from decimal import Decimal

from deployments.nodepools import usage

AT = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def _pool(name, capacity, types, limit="8"):
    return {
        "metadata": {"name": name},
        "spec": {
            "limits": {"nvidia.com/gpu": limit},
            "template": {
                "spec": {
                    "requirements": [
                        {"key": "node.kubernetes.io/instance-type", "values": types},
                        {"key": "karpenter.sh/capacity-type", "values": [capacity]},
                    ]
                }
            },
        },
    }


def _node(name, pool, instance, capacity, gpus):
    return {
        "metadata": {
            "name": name,
            "labels": {
                "karpenter.sh/nodepool": pool,
                "node.kubernetes.io/instance-type": instance,
                "karpenter.sh/capacity-type": capacity,
            },
        },
        "status": {"allocatable": {"nvidia.com/gpu": str(gpus)}},
    }


def _pod(node, gpus, phase="Running"):
    return {
        "spec": {
            "nodeName": node,
            "containers": [{"resources": {"requests": {"nvidia.com/gpu": str(gpus)}}}],
        },
        "status": {"phase": phase},
    }


POOLS = [
    _pool("modelport-gpu-g6e-spot", "spot", ["g6e.xlarge", "g6e.12xlarge"]),
    _pool("modelport-gpu-g6e-on-demand", "on-demand", ["g6e.xlarge"], limit="4"),
]
NODES = [
    _node("n1", "modelport-gpu-g6e-spot", "g6e.12xlarge", "spot", 4),
    _node("n2", "modelport-gpu-g6e-spot", "g6e.xlarge", "spot", 1),
    _node("other", "someone-elses-pool", "g6e.xlarge", "spot", 1),
]
PODS = [_pod("n1", 2), _pod("n1", 1), _pod("n2", 1, phase="Succeeded"), _pod("other", 1)]
PRICES = {("g6e.12xlarge", "spot"): Decimal("4.1970"), ("g6e.xlarge", "spot"): Decimal("0.7444")}


def test_rows_count_each_pools_nodes_gpus_gpus_in_use_and_cost():
    spot, on_demand = (
        {r.name: r for r in usage.pool_rows(POOLS, NODES, PODS, PRICES)}[n]
        for n in ("modelport-gpu-g6e-spot", "modelport-gpu-g6e-on-demand")
    )

    assert spot.nodes == ["n1", "n2"]
    assert (spot.gpus, spot.gpus_in_use, spot.gpu_limit) == (5, 3, 8)  # finished pods free GPUs
    assert spot.cost_per_hour == Decimal("4.9414")
    assert (on_demand.nodes, on_demand.gpus, on_demand.gpu_limit) == ([], 0, 4)


def test_a_node_without_a_price_in_force_is_named_not_costed_at_zero_silently():
    rows = usage.pool_rows(POOLS, NODES, PODS, {})
    spot = {r.name: r for r in rows}["modelport-gpu-g6e-spot"]

    assert spot.unpriced == ["g6e.12xlarge", "g6e.xlarge"]


def test_the_platform_page_shows_the_recorded_pools(staff_client, member_client, settings):
    settings.KARPENTER_NODEPOOLS = True
    usage.record_usage(usage.pool_rows(POOLS, NODES, PODS, PRICES), AT)

    html = staff_client.get("/platform/node-pools/").content.decode()

    assert 'data-pool="modelport-gpu-g6e-spot"' in html
    assert "n1, n2" in html
    assert "2026-03-10 12:00 UTC" in html
    assert member_client.get("/platform/node-pools/").status_code == 403


def test_the_page_says_when_the_portal_does_not_manage_pools(staff_client, settings):
    settings.KARPENTER_NODEPOOLS = False

    html = staff_client.get("/platform/node-pools/").content.decode()

    assert 'data-testid="nodepools-off"' in html
