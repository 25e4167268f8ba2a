"""PromQL for chargeback. Pure functions returning strings; portal.prometheus sends them.

How GPU time is integrated
--------------------------
kube-state-metrics exports ``kube_pod_container_resource_requests{resource="nvidia_com_gpu"}``
once per scrape while a pod exists, with ``node=""`` until it is scheduled. Every stored sample
stands for one scrape interval ``S`` of that many GPUs, so the GPU-seconds of a window are
``sum_over_time(requests[window]) * S`` – a sum over the *raw samples*, with no subquery and no
instant-vector lookback. Prometheus' 5-minute staleness therefore cannot add time after a pod
ends: a pod that is gone has no samples. Short pods and restarts are exact up to the scrape
grid: a pod that runs ``[a, b)`` is seen by ``ceil`` of its scrapes, so the error is below one
scrape interval × its GPUs per pod lifetime (half an interval on average), whatever the duration.
A container restart keeps the pod and its GPUs allocated, so it is (correctly) billed through.

Windows are ``[w_start, w_end)``: the query is evaluated at ``w_end - 1 ms`` with a range of
``w_end - w_start - 1 ms`` (Prometheus 2.x ranges are closed ``[t - r, t]`` and timestamps are
milliseconds), so a sample on an hour boundary counts in exactly one hour. Prometheus 3 made
ranges left-open ``(t - r, t]``; set ``BILLING_LEFT_OPEN_RANGES`` and the range drops the -1 ms.
"""

from __future__ import annotations

GPU_RESOURCE = 'resource="nvidia_com_gpu"'

POD_TEAM_LABEL = "label_modelport_io_team"
POD_ENDPOINT_LABEL = "label_modelport_io_endpoint"
POD_ENDPOINT_UUID_LABEL = "label_modelport_io_endpoint_uuid"
POD_ISVC_LABEL = "label_serving_kserve_io_inferenceservice"
NAMESPACE_TEAM_LABEL = "label_modelport_io_team"
NODE_INSTANCE_TYPE_LABEL = "label_node_kubernetes_io_instance_type"
NODE_CAPACITY_TYPE_LABEL = "label_karpenter_sh_capacity_type"
NODE_EKS_CAPACITY_TYPE_LABEL = "label_eks_amazonaws_com_capacityType"


def range_ms(seconds: float, left_open: bool = False) -> str:
    """The range for a window of ``seconds`` ending just before the evaluation time + 1 ms."""
    ms = int(round(seconds * 1000))
    if ms <= 1:
        raise ValueError("A window must be longer than 1 ms.")
    return f"{ms if left_open else ms - 1}ms"


def _sel(*matchers: str) -> str:
    return "{" + ",".join(m for m in matchers if m) + "}"


def pod_gpu_samples(window: str, selector: str = "") -> str:
    """Σ of GPU-request samples per scheduled pod and node (× scrape interval = GPU-seconds)."""
    sel = _sel(GPU_RESOURCE, 'node!=""', selector)
    return f"sum by (namespace, pod, node) (sum_over_time(kube_pod_container_resource_requests{sel}[{window}]))"


def node_gpu_capacity_samples(window: str, selector: str = "") -> str:
    """Σ of GPU-capacity samples per node (× scrape interval = GPU-seconds of capacity)."""
    sel = _sel(GPU_RESOURCE, selector)
    return f"sum by (node) (sum_over_time(kube_node_status_capacity{sel}[{window}]))"


def gpu_busy_samples(
    window: str, selector: str = "", metric: str = "DCGM_FI_PROF_GR_ENGINE_ACTIVE"
) -> str:
    """Σ of DCGM busy ratios per workload pod (× scrape interval = busy GPU-seconds).

    Grouped by both ``pod`` and ``exported_pod``: with the chart's ``honorLabels: false`` the
    workload is in ``exported_*`` and ``pod`` is the exporter itself. ``DCGM_FI_DEV_GPU_UTIL``
    is a percentage and is scaled to a ratio.
    """
    sel = _sel(selector)
    inner = f"sum_over_time({metric}{sel}[{window}])"
    if metric == "DCGM_FI_DEV_GPU_UTIL":
        inner = f"({inner} / 100)"
    return f"sum by (namespace, pod, exported_namespace, exported_pod) ({inner})"


def token_increase(window: str, selector: str = "", kind: str = "prompt") -> str:
    """vLLM tokens processed per pod in the window (``increase`` handles counter resets)."""
    if kind not in ("prompt", "generation"):
        raise ValueError("kind must be 'prompt' or 'generation'")
    sel = _sel(selector)
    return f"sum by (namespace, pod) (increase(vllm:{kind}_tokens_total{sel}[{window}]))"


def series_match(metric: str, selector: str = "") -> str:
    """A ``match[]`` for the series API (label sets without reading samples)."""
    return f"{metric}{_sel(selector)}"


def raw_gpu_integral(window: str, selector: str = "") -> str:
    """The bare integral (benchmark baseline): total GPU request samples in the window."""
    sel = _sel(GPU_RESOURCE, 'node!=""', selector)
    return f"sum(sum_over_time(kube_pod_container_resource_requests{sel}[{window}]))"
