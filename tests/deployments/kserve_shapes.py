"""Status shapes of the KServe v0.20.0 controller (Standard mode, `autoscalerClass: external`)
and of the predictor Deployment beside it, for the pure status mapping's unit tests.

Each shape: (name, InferenceService status, Deployment spec.replicas + status, expected).
They follow the controller's code paths (`PropagateRawStatus`, `PropagateModelStatus`,
`UpdateModelRevisionStates`, the stop branch of the predictor reconciler and controller.go,
kserve/kserve@v0.20.0) for a cold start, a failed start (storage-initializer error, vLLM
crash loop, a Deployment the apiserver rejects), a rollout, scale to zero, and a stop.
`tests/deployments/endpoints/test_cluster_kserve.py` records the same phases from the real
controller and checks that the mapping gives the same answers there.
"""

from deployments.endpoints.choices import EndpointStatus

URL = "http://chat-mp-search.example.com"


def _cond(ctype, status, reason=None, message=None):
    c = {"type": ctype, "status": status, "lastTransitionTime": "2026-12-01T08:00:00Z"}
    if reason:
        c["reason"] = reason
    if message:
        c["message"] = message
    return c


def _dep(replicas, ready=0, updated=None, generation=1, observed=1):
    return {
        "metadata": {"generation": generation},
        "spec": {"replicas": replicas},
        "status": {
            "observedGeneration": observed,
            "replicas": replicas,
            "readyReplicas": ready,
            "updatedReplicas": replicas if updated is None else updated,
        },
    }


def _ready_conditions():
    return [
        _cond("IngressReady", "True"),
        _cond(
            "PredictorReady",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
        ),
        _cond("Ready", "True"),
        _cond("Stopped", "False"),
    ]


def _loading_model_status(total=0):
    return {
        "transitionStatus": "InProgress",
        "states": {"targetModelState": "Loading"},
        "copies": {"totalCopies": total},
    }


SHAPES = [
    (
        "cold-start: controller has not reconciled yet",
        {},
        None,
        EndpointStatus.PROVISIONING,
    ),
    (
        # maxUnavailable 1 with one replica: the Deployment is Available with 0 ready pods,
        # so PredictorReady/Ready are True while the storage-initializer downloads.
        "cold-start: downloading (Ready=True, 0 of 1 ready)",
        {"conditions": _ready_conditions(), "url": URL, "modelStatus": _loading_model_status()},
        _dep(1, ready=0),
        EndpointStatus.PROVISIONING,
    ),
    (
        # Recorded from the real v0.20.0 controller right after it created the Deployment
        # (before the Deployment controller reported on it).
        "cold-start: Deployment created, no Deployment status yet",
        {
            "clusterServingRuntimeName": "kserve-huggingfaceserver",
            "components": {"predictor": {}},
            "conditions": [
                _cond("IngressReady", "False", "Predictor ingress not created"),
                _cond("PredictorReady", "False"),
                _cond("Ready", "False", "Predictor ingress not created"),
                {**_cond("Stopped", "False"), "severity": "Info"},
            ],
            "deploymentMode": "Standard",
            "modelStatus": {
                "copies": {"failedCopies": 0},
                "states": {"activeModelState": "", "targetModelState": "Pending"},
                "transitionStatus": "InProgress",
            },
        },
        {"metadata": {"generation": 1}, "spec": {"replicas": 1}, "status": {}},
        EndpointStatus.PROVISIONING,
    ),
    (
        "cold-start: predictor not available yet",
        {
            "conditions": [
                _cond("IngressReady", "False", "Predictor ingress not created"),
                _cond(
                    "PredictorReady",
                    "False",
                    "MinimumReplicasUnavailable",
                    "Deployment does not have minimum availability.",
                ),
                _cond("Ready", "False", "MinimumReplicasUnavailable"),
                _cond("Stopped", "False"),
            ],
            "modelStatus": _loading_model_status(),
        },
        _dep(2, ready=0),
        EndpointStatus.PROVISIONING,
    ),
    (
        "cold-start: serving",
        {
            "conditions": _ready_conditions(),
            "url": URL,
            "modelStatus": {
                "transitionStatus": "UpToDate",
                "states": {"activeModelState": "Loaded", "targetModelState": "Loaded"},
                "copies": {"totalCopies": 1},
            },
        },
        _dep(1, ready=1),
        EndpointStatus.READY,
    ),
    (
        "failed start: storage-initializer exited with an error (gated repo, 401)",
        {
            "conditions": _ready_conditions(),
            "url": URL,
            "modelStatus": {
                "transitionStatus": "BlockedByFailedLoad",
                "states": {"targetModelState": "FailedToLoad"},
                "lastFailureInfo": {
                    "reason": "ModelLoadFailed",
                    "message": "GatedRepoError: 401 Client Error",
                    "exitCode": 1,
                },
            },
        },
        _dep(1, ready=0),
        EndpointStatus.FAILED,
    ),
    (
        "failed start: the apiserver rejected the predictor Deployment",
        {
            "conditions": [
                _cond(
                    "PredictorReady",
                    "False",
                    "ReconcileFailed",
                    'fails to reconcile predictor: Deployment.apps "chat-predictor" is invalid: '
                    'spec.template.spec.containers[0].resources.requests: Invalid value: "2": '
                    "must be less than or equal to cpu limit of 1",
                ),
                _cond("Ready", "False", "ReconcileFailed"),
            ]
        },
        None,
        EndpointStatus.FAILED,
    ),
    (
        # lastFailureInfo is never cleared: a later successful load must not read as failed.
        "recovered: old lastFailureInfo, UpToDate",
        {
            "conditions": _ready_conditions(),
            "url": URL,
            "modelStatus": {
                "transitionStatus": "UpToDate",
                "states": {"activeModelState": "Loaded", "targetModelState": "Loaded"},
                "lastFailureInfo": {"reason": "ModelLoadFailed", "message": "OOMKilled"},
                "copies": {"totalCopies": 1},
            },
        },
        _dep(1, ready=1),
        EndpointStatus.READY,
    ),
    (
        "rollout: new template, 0 of 1 updated",
        {"conditions": _ready_conditions(), "url": URL},
        _dep(1, ready=0, updated=0, generation=2, observed=2),
        EndpointStatus.PROVISIONING,
    ),
    (
        "rollout: Deployment controller has not seen the new template",
        {"conditions": _ready_conditions(), "url": URL},
        _dep(2, ready=2, generation=3, observed=2),
        EndpointStatus.PROVISIONING,
    ),
    (
        "scale-up: 1 of 2 ready, serving",
        {"conditions": _ready_conditions(), "url": URL},
        _dep(2, ready=1),
        EndpointStatus.READY,
    ),
    (
        # A Deployment at 0 replicas is Available: KServe says Ready.
        "scaled to zero: Ready=True, 0 replicas",
        {
            "conditions": _ready_conditions(),
            "url": URL,
            "modelStatus": {
                "transitionStatus": "InProgress",
                "states": {"targetModelState": "Pending"},
                "copies": {"totalCopies": 0},
            },
        },
        _dep(0),
        EndpointStatus.SCALED_TO_ZERO,
    ),
]

# Recorded from the real controller: vLLM in CrashLoopBackOff with one replica
# (maxUnavailable 1) still reads Ready/Loaded/UpToDate. The pod tells the truth.
CRASH_LOOP_STATUS = {
    "conditions": [
        _cond("IngressReady", "True"),
        _cond(
            "PredictorReady",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
        ),
        _cond("Ready", "True"),
        {**_cond("Stopped", "False"), "severity": "Info"},
    ],
    "url": URL,
    "modelStatus": {
        "copies": {"failedCopies": 0},
        "states": {"activeModelState": "Loaded", "targetModelState": "Loaded"},
        "transitionStatus": "UpToDate",
    },
}
CRASH_LOOP_DEPLOYMENT = {
    "metadata": {"generation": 1},
    "spec": {"replicas": 1},
    "status": {
        "observedGeneration": 1,
        "replicas": 1,
        "unavailableReplicas": 1,
        "updatedReplicas": 1,
    },
}
CRASH_LOOP_POD = {
    "metadata": {"name": "chat-predictor-749fb8447-x2x9p"},
    "status": {
        "phase": "Running",
        "containerStatuses": [
            {
                "name": "kserve-container",
                "ready": False,
                "restartCount": 1,
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}},
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            }
        ],
    },
}

# Stop: the controller clears the status, then sets these (annotation serving.kserve.io/stop).
STOPPED_CONDITIONS = [
    _cond("IngressReady", "False", "Stopped"),
    _cond("PredictorReady", "False", "Stopped"),
    _cond("Ready", "False", "Stopped"),
    _cond("Stopped", "True", "Stopped"),
]
