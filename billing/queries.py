"""PromQL for chargeback. Pure functions returning strings; portal.prometheus sends them.

GPU time (kube-state-metrics GPU requests and node capacity, DCGM busy ratios) is fetched as raw
samples: a bare selector with a range, evaluated at an instant, returns every stored sample
(no subquery, no lookback: a pod that is gone has no samples). portal/gputime.py
integrates them from each sample's span (docs/chargeback.md). Counters use ``increase``.

Windows are ``[w_start, w_end)``: the query is evaluated at ``w_end - 1 ms`` with a range of
``w_end - w_start - 1 ms`` on Prometheus 2.x (closed ranges ``[t - r, t]``, millisecond
timestamps) or ``w_end - w_start`` on Prometheus 3 (left-open ``(t - r, t]``), so a sample on
an hour boundary counts in exactly one hour. The server's major version comes from its build
info (``PrometheusClient.major_version``).
"""

from __future__ import annotations

GPU_RESOURCE = 'resource="nvidia_com_gpu"'
SCHEDULED = 'node!=""'

POD_TEAM_LABEL = "label_modelport_io_team"
POD_ENDPOINT_LABEL = "label_modelport_io_endpoint"
POD_ENDPOINT_UUID_LABEL = "label_modelport_io_endpoint_uuid"
POD_ISVC_LABEL = "label_serving_kserve_io_inferenceservice"
# Batch job pods (deployments/batch/manifests.py labels): their GPU time is a line of its own,
# keyed "batch/<job name>" (a DNS label has no "/", so it never meets an endpoint's key).
POD_BATCH_JOB_LABEL = "label_modelport_io_batch_job"
POD_BATCH_UUID_LABEL = "label_modelport_io_batch_job_uuid"
BATCH_KEY_PREFIX = "batch/"
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


def pod_gpu_requests(selector: str = "") -> str:
    """GPU requests of every scheduled pod's containers (one series per container and node)."""
    return "kube_pod_container_resource_requests" + _sel(GPU_RESOURCE, SCHEDULED, selector)


def node_gpu_capacity(selector: str = "") -> str:
    """GPU capacity of every node."""
    return f"kube_node_status_capacity{_sel(GPU_RESOURCE, selector)}"


def gpu_busy(selector: str = "", metric: str = "DCGM_FI_PROF_GR_ENGINE_ACTIVE") -> str:
    """DCGM busy ratio per GPU. The workload pod is in ``exported_pod`` with the chart's
    ``honorLabels: false``, else in ``pod``. ``DCGM_FI_DEV_GPU_UTIL`` is a percentage (the
    caller scales it to a ratio)."""
    return f"{metric}{_sel(selector)}"


def token_increase(window: str, selector: str = "", kind: str = "prompt") -> str:
    """vLLM tokens processed per pod in the window (``increase`` handles counter resets)."""
    if kind not in ("prompt", "generation"):
        raise ValueError("kind must be 'prompt' or 'generation'")
    sel = _sel(selector)
    return f"sum by (namespace, pod) (increase(vllm:{kind}_tokens_total{sel}[{window}]))"


TOKEN_KIND_LABEL = "token_kind"


def token_increases(window: str, selector: str = "") -> str:
    """Prompt and generation tokens per pod in one query (one request for both): each series
    of :func:`token_increase` labelled ``token_kind="prompt"`` or ``"generation"``."""
    return " or ".join(
        f'label_replace({token_increase(window, selector, kind)}, "{TOKEN_KIND_LABEL}", '
        f'"{kind}", "", "")'
        for kind in ("prompt", "generation")
    )


def series_match(metric: str, selector: str = "") -> str:
    """A ``match[]`` for the series API (label sets without reading samples)."""
    return f"{metric}{_sel(selector)}"


def raw_gpu_integral(window: str, selector: str = "") -> str:
    """The bare integral (benchmark baseline): total GPU request samples in the window."""
    sel = _sel(GPU_RESOURCE, 'node!=""', selector)
    return f"sum(sum_over_time(kube_pod_container_resource_requests{sel}[{window}]))"
