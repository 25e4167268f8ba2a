"""Read what Karpenter says about an endpoint's pending pods (the cluster side of pending.py)."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings

from deployments.k8s import ClusterClient
from deployments.nodepools import manifests, pending


def pending_reason(
    client: ClusterClient, pods: list[dict], events: list[dict], now: datetime, prefix: str = ""
) -> str:
    """The node-side sentence for pending pods plus a space ("" when Karpenter is off or has
    said nothing about them). Lists NodeClaims and NodePools only when a pod is pending."""
    if not settings.KARPENTER_NODEPOOLS:
        return ""
    if not any((p.get("status") or {}).get("phase") == "Pending" for p in pods):
        return ""
    claims = client.list(manifests.NODECLAIM_API, "NodeClaim")
    pools = client.list(manifests.NODEPOOL_API, "NodePool")
    text = pending.explain_pending(pods, events, claims, pools, now, prefix)
    return f"{text} " if text else ""
