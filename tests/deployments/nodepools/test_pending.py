"""Why a pending replica has no node, from Karpenter's events and NodeClaims (messages as
Karpenter v1.15 words them: pkg/controllers/provisioning/scheduling/events.go, scheduler.go;
the cluster test checks them against the real Karpenter)."""

from datetime import UTC, datetime

from deployments.endpoints import page
from deployments.nodepools.pending import explain_pending

NOW = datetime(2026, 3, 10, 12, 0, 40, tzinfo=UTC)


def _pod(name="chat-predictor-abc", capacity="spot", node=None, phase="Pending"):
    return {
        "metadata": {"name": name},
        "spec": {
            "nodeSelector": {
                "node.kubernetes.io/instance-type": "g6e.xlarge",
                "karpenter.sh/capacity-type": capacity,
            },
            **({"nodeName": node} if node else {}),
        },
        "status": {"phase": phase},
    }


def _event(reason, message, pod="chat-predictor-abc", at="2026-03-10T12:00:05Z", kind="Pod"):
    return {
        "type": "Warning" if reason == "FailedScheduling" else "Normal",
        "reason": reason,
        "message": message,
        "involvedObject": {"kind": kind, "name": pod},
        "source": {"component": "karpenter"},
        "lastTimestamp": at,
    }


def _claim(name="modelport-gpu-g6e-spot-x7k2p", conditions=(), deleting=False):
    return {
        "metadata": {
            "name": name,
            "creationTimestamp": "2026-03-10T12:00:00Z",
            "labels": {
                "node.kubernetes.io/instance-type": "g6e.xlarge",
                "karpenter.sh/capacity-type": "spot",
                "karpenter.sh/nodepool": "modelport-gpu-g6e-spot",
            },
            **({"deletionTimestamp": "2026-03-10T12:00:30Z"} if deleting else {}),
        },
        "status": {"conditions": [{"type": t, "status": s} for t, s in conditions]},
    }


NOMINATED = _event("Nominated", "Pod should schedule on: nodeclaim/modelport-gpu-g6e-spot-x7k2p")


def test_a_nominated_pod_says_which_node_karpenter_is_launching_and_since_when():
    text = explain_pending([_pod()], [NOMINATED], [_claim()], [], NOW)

    assert text == "Karpenter is launching a g6e.xlarge spot node (40 s ago)."
    assert "being launched" in page.advice_for(text)


def test_the_sentence_follows_the_nodeclaim_through_registration_and_readiness():
    registered = _claim(conditions=[("Launched", "True"), ("Registered", "True")])
    ready = _claim(conditions=[("Registered", "True"), ("Initialized", "True")])

    assert "it is joining the cluster" in explain_pending(
        [_pod()], [NOMINATED], [registered], [], NOW
    )
    assert "is ready (40 s ago); the scheduler is placing" in explain_pending(
        [_pod()], [NOMINATED], [ready], [], NOW
    )


def test_a_pool_at_its_gpu_limit_is_named_with_its_figures():
    refused = _event(
        "FailedScheduling",
        "Failed to schedule pod, all available instance types exceed limits for nodepool, "
        'NodePool="modelport-gpu-g6e-spot"',
    )
    pool = {
        "metadata": {"name": "modelport-gpu-g6e-spot"},
        "spec": {"limits": {"nvidia.com/gpu": "1"}},
        "status": {"resources": {"nvidia.com/gpu": "1"}},
    }

    text = explain_pending([_pod()], [refused], [], [pool], NOW)

    assert text.startswith(
        "Node pool modelport-gpu-g6e-spot has reached its GPU limit (1 of 1 GPUs in use)"
    )
    assert "ceiling" in page.advice_for(text)


def test_no_pool_allowing_the_type_is_said_with_karpenters_own_words():
    refused = _event(
        "FailedScheduling",
        'Failed to schedule pod, incompatible with nodepool "modelport-gpu-g6e-on-demand", '
        "incompatible requirements, key karpenter.sh/capacity-type, karpenter.sh/capacity-type "
        "In [spot] not in karpenter.sh/capacity-type In [on-demand]",
    )

    text = explain_pending([_pod()], [refused], [], [], NOW)

    assert text.startswith("No GPU node pool allows a g6e.xlarge spot node")
    assert "incompatible with nodepool" in text
    assert "No node pool of the platform offers" in page.advice_for(text)


def test_insufficient_spot_capacity_is_said_as_such():
    refused = _event("FailedScheduling", "Failed to schedule pod, insufficient capacity, ...")

    text = explain_pending([_pod()], [refused], [], [], NOW)

    assert text.startswith("Spot capacity for g6e.xlarge is unavailable")


def test_the_newest_karpenter_event_decides_and_a_vanished_nodeclaim_is_skipped():
    old_refusal = _event(
        "FailedScheduling",
        "Failed to schedule pod, all available instance types exceed limits for nodepool, "
        'NodePool="modelport-gpu-g6e-spot"',
        at="2026-03-10T11:59:00Z",
    )
    gone = _event(
        "Nominated", "Pod should schedule on: nodeclaim/deleted-claim", at="2026-03-10T12:00:20Z"
    )

    text = explain_pending([_pod()], [old_refusal, NOMINATED, gone], [_claim()], [], NOW)

    assert text.startswith("Karpenter is launching")


def test_nothing_is_said_without_a_pending_pod_or_without_karpenter_events():
    scheduler = {**_event("FailedScheduling", "0/3 nodes are available"), "source": {}}

    assert (
        explain_pending([_pod(node="n1", phase="Running")], [NOMINATED], [_claim()], [], NOW) == ""
    )
    assert explain_pending([_pod()], [scheduler], [], [], NOW) == ""
    assert explain_pending([_pod()], [_event("Nominated", "x", pod="other")], [], [], NOW) == ""


def test_a_replica_karpenter_took_off_a_terminating_node_is_said_first_while_recent():
    disrupted = _event(
        "Disrupted",
        "Deleting the pod to accommodate the terminationTime 2026-03-10 12:00:00 +0000 UTC of "
        "the node. The pod was granted 0 seconds of grace-period of its 30 "
        "terminationGracePeriodSeconds. This bypasses the PDB of the pod and the do-not-disrupt "
        "annotation.",
        pod="chat-predictor-old",
        at="2026-03-10T12:00:05Z",
    )

    text = explain_pending(
        [_pod()], [disrupted, NOMINATED], [_claim()], [], NOW, prefix="chat-predictor"
    )

    assert text == (
        "Karpenter removed a replica from a node it was terminating (a spot interruption or a "
        "node deletion) 35 s ago. Karpenter is launching a g6e.xlarge spot node (40 s ago)."
    )
    later = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)
    assert explain_pending([_pod()], [disrupted], [], [], later, prefix="chat-predictor") == ""
    assert explain_pending([_pod()], [disrupted], [], [], NOW, prefix="other-predictor") == ""
