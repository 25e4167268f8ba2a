"""Generate realistic Prometheus series (vLLM, DCGM exporter, kube-state-metrics) for tests.

A test describes *what happened* – nodes, pods (start/end, GPUs, labels), the load each
vLLM pod served, how often Prometheus scraped and where scrapes are missing – and gets:

* ``scenario.openmetrics()``: OpenMetrics text with timestamps and ``# EOF``, ready for
  ``promtool tsdb create-blocks-from openmetrics`` (``PrometheusServer.backfill``);
* ``scenario.series``: every generated :class:`Series` (full label set as Prometheus stores it,
  ``(t, value)`` samples) – what a raw read-back must return;
* ``scenario.truth[pod_name]``: a :class:`PodTruth` with the *inputs* behind the series
  (scrape times, GPU seconds, tokens, requests by finish reason, every latency observation)
  so a test can compute expected answers without PromQL;
* ``scenario.exposition(t, target)``: the text an exporter would serve at time ``t``
  (for live scrape tests with ``tests/infra/exporter.py``).

Metric names and labels follow ``shared/reference/knowledge.md`` §3-4 exactly. Everything is
deterministic for a given ``seed``. Example::

    from tests.promdata import Scenario, Node, Pod, Load

    s = Scenario(start=T0, end=T0 + 3 * 3600, scrape_interval=30, seed=1)
    s.add_namespace("team-a", labels={"modelport.io/team": "a"})
    n = s.add_node(Node("gpu-1", instance_type="g6e.xlarge", capacity_type="spot", gpus=1))
    s.add_pod(Pod("llama-predictor-abc", "team-a", node="gpu-1", gpus=1, start=T0, end=T0 + 7200,
                  isvc="llama", team="a", load=Load(model_name="llama", requests_per_s=2.0)))
    text = s.openmetrics()
    s.truth["llama-predictor-abc"].gpu_seconds   # 7200.0 (1 GPU x 2 h scheduled)

Conventions:
* Times are Unix seconds (floats allowed); samples are emitted at
  ``start + scrape_offset + k * scrape_interval`` while the target exists, minus ``gaps``.
  Timestamps are rounded to milliseconds (what the TSDB stores).
* A pod exists in KSM from ``created`` (default ``start``) to ``end``; it is Pending
  (``node=""``) until ``start``; its vLLM and DCGM attribution series exist from ``start`` to
  ``end``. ``end=None`` means still running at the scenario end.
* Counters are integers (tokens, requests) or floats (``_sum``), reset to 0 at each restart.
* Empty label values (KSM's ``node=""`` for Pending pods) are absent from stored series, as
  in Prometheus; ``exporter_labels`` keep them.
* Target labels are merged as Prometheus does: with ``honor_labels=False`` a clashing
  exporter label ``x`` becomes ``exported_x`` (DCGM's default chart setup).
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

Number = float | int
ValueSpec = Number | Callable[[float], Number]

# vLLM V1 histogram buckets (vllm/v1/metrics/loggers.py)
TTFT_BUCKETS = [
    0.001,
    0.005,
    0.01,
    0.02,
    0.04,
    0.06,
    0.08,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
    20.0,
    40.0,
    80.0,
    160.0,
    640.0,
    2560.0,
]
ITL_BUCKETS = [
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.3,
    0.4,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
    20.0,
    40.0,
    80.0,
]
E2E_BUCKETS = [
    0.3,
    0.5,
    0.8,
    1.0,
    1.5,
    2.0,
    2.5,
    5.0,
    10.0,
    15.0,
    20.0,
    30.0,
    40.0,
    50.0,
    60.0,
    120.0,
    240.0,
    480.0,
    960.0,
    1920.0,
    7680.0,
]
FINISH_REASONS = ("stop", "length", "abort", "error", "repetition")

GPU_MODELS = {  # modelName as DCGM reports it, framebuffer MiB
    "L4": ("NVIDIA L4", 23034),
    "L40S": ("NVIDIA L40S", 46068),
    "A10G": ("NVIDIA A10G", 23028),
    "A100": ("NVIDIA A100-SXM4-80GB", 81920),
    "H100": ("NVIDIA H100 80GB HBM3", 81559),
}


def sanitize_label_name(key: str) -> str:
    """kube-state-metrics' SanitizeLabelName: ``a.b/c-d`` -> ``a_b_c_d``."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", key)


def _value(spec: ValueSpec, t: float) -> float:
    return float(spec(t)) if callable(spec) else float(spec)


@dataclass(frozen=True)
class Latency:
    """Log-normal latency distribution: ``median`` seconds and shape ``sigma``."""

    median: float
    sigma: float = 0.4

    def sample(self, rng: random.Random) -> float:
        return round(self.median * math.exp(rng.gauss(0.0, self.sigma)), 6)


@dataclass
class Load:
    """What a vLLM pod serves. Each rate/level may be a constant or ``f(t) -> value``.

    ``requests_per_s`` is the completion rate; per scrape interval the generator emits
    ``round(rate * dt)`` requests (plus ±``noise`` relative jitter), each with prompt/generation
    token counts and TTFT / inter-token / end-to-end latencies drawn from the distributions.
    ``finish_reasons`` are weights. ``metric_names``: ``"new"`` (current vLLM), ``"old"``
    (pre-0.9 names: ``gpu_cache_usage_perc``, ``time_per_output_token_seconds``,
    ``gpu_prefix_cache_*``) or ``"both"`` (transition releases emit both).
    """

    model_name: str
    requests_per_s: ValueSpec = 1.0
    prompt_tokens_per_request: ValueSpec = 500
    generation_tokens_per_request: ValueSpec = 200
    ttft: Latency = Latency(0.15, 0.5)
    inter_token: Latency = Latency(0.03, 0.3)
    finish_reasons: dict = field(
        default_factory=lambda: {"stop": 0.9, "length": 0.08, "abort": 0.02}
    )
    num_requests_running: ValueSpec | None = None  # default: derived from rate x e2e
    num_requests_waiting: ValueSpec = 0
    kv_cache_usage: ValueSpec | None = None  # 0..1; default: derived from running
    prefix_cache_hit_ratio: ValueSpec = 0.3
    preemptions_per_s: ValueSpec = 0.0
    gpu_util: ValueSpec | None = None  # DCGM_FI_DEV_GPU_UTIL 0..100; default from load
    fb_used_fraction: ValueSpec = 0.9  # vLLM preallocates --gpu-memory-utilization
    engine: str = "0"
    metric_names: str = "new"
    noise: float = 0.1


@dataclass
class Node:
    """A GPU node; its DCGM exporter and KSM node series exist from ``start`` to ``end``."""

    name: str
    instance_type: str = "g6e.xlarge"
    capacity_type: str = "on-demand"  # karpenter.sh/capacity-type: spot|on-demand|reserved
    gpus: int = 1
    gpu: str = "L4"  # key of GPU_MODELS
    labels: dict = field(
        default_factory=dict
    )  # extra k8s labels (allow-listed into kube_node_labels)
    start: float | None = None
    end: float | None = None
    ip: str = ""


@dataclass
class Pod:
    """A (vLLM predictor) pod.

    ``created``..``start`` is Pending (KSM ``node=""``); ``start``..``end`` is running on
    ``node`` with ``gpus`` GPUs. ``labels`` are k8s pod labels; ``team``/``endpoint``/``isvc``
    are shortcuts for ``modelport.io/team``, ``modelport.io/endpoint`` and
    ``serving.kserve.io/inferenceservice``. ``restarts`` is a list of ``(t, reason)``
    (e.g. ``"OOMKilled"``): vLLM counters reset, KSM restart counter increments.
    ``gaps`` are extra ``(t0, t1)`` windows where this pod's vLLM target was not scraped.
    ``load=None`` makes a GPU pod without vLLM metrics.
    """

    name: str
    namespace: str
    node: str = ""
    gpus: int = 1
    start: float = 0.0
    end: float | None = None
    created: float | None = None
    team: str | None = None
    endpoint: str | None = None
    isvc: str | None = None
    deployment: str | None = None  # default: f"{isvc}-predictor" when isvc is set
    labels: dict = field(default_factory=dict)
    container: str = "kserve-container"
    uid: str = ""
    ip: str = ""
    cpu: float = 4.0
    memory_bytes: int = 32 * 2**30
    load: Load | None = None
    restarts: list = field(default_factory=list)
    gaps: list = field(default_factory=list)

    def k8s_labels(self) -> dict:
        out = dict(self.labels)
        if self.team:
            out.setdefault("modelport.io/team", self.team)
        if self.endpoint:
            out.setdefault("modelport.io/endpoint", self.endpoint)
        if self.isvc:
            out.setdefault("serving.kserve.io/inferenceservice", self.isvc)
        return out


@dataclass
class Series:
    """One stored series: ``name``, full label set and samples ``[(t, value)]`` in time order.

    ``family``/``type`` give the OpenMetrics family (``vllm:generation_tokens``/``counter`` for
    sample name ``vllm:generation_tokens_total``). ``target`` identifies the scrape target
    (used by :meth:`Scenario.exposition`); ``exporter_labels`` are the labels the exporter
    itself writes (before target labels were merged).
    """

    name: str
    labels: dict
    family: str
    type: str
    target: str
    exporter_labels: dict
    samples: list = field(default_factory=list)

    def key(self) -> frozenset:
        return frozenset({"__name__": self.name, **self.labels}.items())

    def value_at(self, t: float) -> float | None:
        """Last sample at or before ``t`` (no lookback limit), or None."""
        best = None
        for ts, v in self.samples:
            if ts <= t:
                best = v
            else:
                break
        return best


@dataclass
class PodTruth:
    """Ground truth for one pod, from the generator's inputs (not from the series)."""

    pod: Pod
    scrape_times: list = field(default_factory=list)  # vLLM samples that were emitted
    gpu_seconds: float = 0.0  # gpus x scheduled seconds in window
    running_seconds: float = 0.0
    prompt_tokens: int = 0
    generation_tokens: int = 0
    requests_by_reason: dict = field(default_factory=dict)
    preemptions: int = 0
    prefix_queries: int = 0
    prefix_hits: int = 0
    ttft: list = field(default_factory=list)  # every observation (seconds)
    inter_token: list = field(default_factory=list)  # one mean gap per request
    e2e: list = field(default_factory=list)
    # (t, requests, prompt tokens, generation tokens) the generator counted up to each vLLM
    # sample, cumulative over the pod's whole life (restarts included): the counts *inside* a
    # window are the difference at its edges, independently of the series.
    counted: list = field(default_factory=list)

    def counted_in(self, start: float, end: float) -> tuple[int, int, int]:
        """Requests, prompt and generation tokens the generator emitted in (start, end]."""

        def upto(t):
            last = (0, 0, 0)
            for ts, *vals in self.counted:
                if ts > t:
                    break
                last = tuple(vals)
            return last

        hi, lo = upto(end), upto(start)
        return tuple(h - low for h, low in zip(hi, lo, strict=True))

    gpu_indices: list = field(default_factory=list)  # DCGM gpu index(es) on the node
    restarts: int = 0

    @property
    def requests(self) -> int:
        return sum(self.requests_by_reason.values())


def _fmt_labels(labels: dict) -> str:
    def esc(v: str) -> str:
        return str(v).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')

    return ",".join(f'{k}="{esc(v)}"' for k, v in labels.items())


def _fmt_value(v: float) -> str:
    if v == math.inf:
        return "+Inf"
    if float(v).is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(float(v))


def _fmt_ts(t: float) -> str:
    ms = int(round(t * 1000))
    return f"{ms // 1000}.{ms % 1000:03d}"


def merge_target_labels(exporter: dict, target: dict, honor_labels: bool) -> dict:
    """Prometheus' label merge: target labels win unless ``honor_labels``; losers get ``exported_``."""
    out = dict(exporter)
    for k, v in target.items():
        if k in out:
            if honor_labels:
                continue
            out[f"exported_{k}"] = out.pop(k)
        out[k] = v
    return dict(sorted((k, v) for k, v in out.items() if v != ""))  # Prometheus drops empty labels


class Scenario:
    """A set of nodes, namespaces and pods over ``[start, end]`` and the series they produce.

    Parameters:
        start, end: Unix seconds.
        scrape_interval: seconds between samples of every target.
        scrape_offset: first scrape at ``start + scrape_offset``.
        gaps: ``(t0, t1)`` windows with no samples at all (Prometheus down).
        dcgm_style: ``"exported"`` (honorLabels false: ``exported_pod`` ...), ``"honor"``
            (``pod``/``namespace``/``container``) or ``"none"`` (no pod attribution).
        seed: RNG seed; same inputs + seed = same output.
        cluster_labels: extra target labels on every series (e.g. ``{"cluster": "prod"}``).
    """

    def __init__(
        self,
        start: float,
        end: float,
        scrape_interval: float = 30.0,
        scrape_offset: float = 0.0,
        gaps: Iterable = (),
        dcgm_style: str = "exported",
        seed: int = 0,
        cluster_labels: dict | None = None,
        ksm_job: str = "kube-state-metrics",
        dcgm_namespace: str = "gpu-operator",
    ):
        self.start, self.end = float(start), float(end)
        self.scrape_interval = float(scrape_interval)
        self.scrape_offset = float(scrape_offset)
        self.gaps = [tuple(g) for g in gaps]
        self.dcgm_style = dcgm_style
        self.seed = seed
        self.cluster_labels = dict(cluster_labels or {})
        self.ksm_job = ksm_job
        self.dcgm_namespace = dcgm_namespace
        self.nodes: dict[str, Node] = {}
        self.pods: dict[str, Pod] = {}
        self.namespaces: dict[str, dict] = {}
        self._series: list[Series] | None = None
        self._truth: dict[str, PodTruth] = {}

    # ------------------------------------------------------------------ building
    def add_namespace(self, name: str, labels: dict | None = None) -> str:
        self.namespaces[name] = dict(labels or {})
        self._series = None
        return name

    def add_node(self, node: Node) -> Node:
        node.ip = node.ip or f"10.1.{len(self.nodes) // 250}.{len(self.nodes) % 250 + 1}"
        self.nodes[node.name] = node
        self._series = None
        return node

    def add_pod(self, pod: Pod) -> Pod:
        if pod.namespace not in self.namespaces:
            self.add_namespace(pod.namespace)
        rng = random.Random(f"{self.seed}/{pod.namespace}/{pod.name}")
        parts = [rng.getrandbits(bits) for bits in (32, 16, 16, 16, 48)]
        pod.uid = pod.uid or "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}".format(*parts)
        pod.ip = pod.ip or f"10.2.{len(self.pods) // 250}.{len(self.pods) % 250 + 1}"
        if pod.deployment is None and pod.isvc:
            pod.deployment = f"{pod.isvc}-predictor"
        self.pods[pod.name] = pod
        self._series = None
        return pod

    # ------------------------------------------------------------------ time helpers
    def scrape_times(
        self, t0: float | None = None, t1: float | None = None, extra_gaps: Iterable = ()
    ) -> list[float]:
        """Scrape timestamps in ``[max(start,t0), min(end,t1))`` outside gaps (ms-rounded)."""
        lo = self.start if t0 is None else max(self.start, t0)
        hi = self.end if t1 is None else min(self.end, t1)
        gaps = self.gaps + [tuple(g) for g in extra_gaps]
        out = []
        k = max(0, math.ceil((lo - self.start - self.scrape_offset) / self.scrape_interval))
        while True:
            t = round(self.start + self.scrape_offset + k * self.scrape_interval, 3)
            k += 1
            if t >= hi:
                break
            if t < lo or any(g0 <= t < g1 for g0, g1 in gaps):
                continue
            out.append(t)
        return out

    def _end(self, t: float | None) -> float:
        return self.end if t is None else min(t, self.end)

    # ------------------------------------------------------------------ generation
    @property
    def series(self) -> list[Series]:
        if self._series is None:
            self._generate()
        return self._series

    @property
    def truth(self) -> dict[str, PodTruth]:
        if self._series is None:
            self._generate()
        return self._truth

    def find(self, name: str, **labels) -> list[Series]:
        """Series named ``name`` whose labels include ``labels``."""
        return [
            s
            for s in self.series
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        ]

    def _generate(self):
        self._series, self._truth = [], {}
        self._by_key: dict = {}
        self._gen_namespaces()
        self._gen_nodes()
        for pod in self.pods.values():
            self._truth[pod.name] = PodTruth(pod=pod)
            self._gen_ksm_pod(pod)
            if pod.load is not None:
                self._gen_vllm(pod)
        self._gen_deployments()
        self._gen_dcgm()

    def _add(self, name, family, type_, target, exporter_labels, target_labels, honor, t, v):
        labels = merge_target_labels(
            exporter_labels, {**self.cluster_labels, **target_labels}, honor
        )
        key = (name, tuple(labels.items()))
        s = self._by_key.get(key)
        if s is None:
            s = Series(name, labels, family, type_, target, dict(exporter_labels))
            self._by_key[key] = s
            self._series.append(s)
        s.samples.append((t, float(v)))

    # ---- kube-state-metrics
    def _ksm(self, name, family, type_, labels, t, v):
        self._add(
            name,
            family,
            type_,
            "ksm",
            labels,
            {"job": self.ksm_job, "instance": "10.0.0.10:8080"},
            True,
            t,
            v,
        )

    def _gen_namespaces(self):
        for ns, labels in self.namespaces.items():
            lab = {
                "namespace": ns,
                **{f"label_{sanitize_label_name(k)}": v for k, v in labels.items()},
            }
            for t in self.scrape_times():
                self._ksm("kube_namespace_labels", "kube_namespace_labels", "gauge", lab, t, 1)

    def _gen_nodes(self):
        for node in self.nodes.values():
            labels = {
                "node.kubernetes.io/instance-type": node.instance_type,
                "karpenter.sh/capacity-type": node.capacity_type,
                **node.labels,
            }
            lab = {
                "node": node.name,
                **{f"label_{sanitize_label_name(k)}": v for k, v in labels.items()},
            }
            for t in self.scrape_times(node.start, node.end):
                self._ksm("kube_node_labels", "kube_node_labels", "gauge", lab, t, 1)
                for metric in ("kube_node_status_capacity", "kube_node_status_allocatable"):
                    self._ksm(
                        metric,
                        metric,
                        "gauge",
                        {"node": node.name, "resource": "nvidia_com_gpu", "unit": "integer"},
                        t,
                        node.gpus,
                    )

    def _gen_ksm_pod(self, pod: Pod):
        truth = self._truth[pod.name]
        created = pod.start if pod.created is None else pod.created
        end = self._end(pod.end)
        base = {"namespace": pod.namespace, "pod": pod.name, "uid": pod.uid}
        plabels = {f"label_{sanitize_label_name(k)}": v for k, v in pod.k8s_labels().items()}
        restarts = sorted(pod.restarts)
        run_lo, run_hi = max(pod.start, self.start), end
        truth.running_seconds = max(0.0, run_hi - run_lo)
        truth.gpu_seconds = truth.running_seconds * pod.gpus
        truth.restarts = len([r for r in restarts if r[0] < end])
        for t in self.scrape_times(created, end):
            node = pod.node if t >= pod.start else ""
            self._ksm("kube_pod_labels", "kube_pod_labels", "gauge", {**base, **plabels}, t, 1)
            for resource, unit, v in (
                ("nvidia_com_gpu", "integer", pod.gpus),
                ("cpu", "core", pod.cpu),
                ("memory", "byte", pod.memory_bytes),
            ):
                if resource == "nvidia_com_gpu" and not pod.gpus:
                    continue
                self._ksm(
                    "kube_pod_container_resource_requests",
                    "kube_pod_container_resource_requests",
                    "gauge",
                    {
                        **base,
                        "container": pod.container,
                        "node": node,
                        "resource": resource,
                        "unit": unit,
                    },
                    t,
                    v,
                )
            if t >= pod.start:
                done = [r for r in restarts if r[0] <= t]
                self._ksm(
                    "kube_pod_container_status_restarts_total",
                    "kube_pod_container_status_restarts",
                    "counter",
                    {**base, "container": pod.container},
                    t,
                    len(done),
                )
                if done:
                    self._ksm(
                        "kube_pod_container_status_last_terminated_reason",
                        "kube_pod_container_status_last_terminated_reason",
                        "gauge",
                        {**base, "container": pod.container, "reason": done[-1][1]},
                        t,
                        1,
                    )

    def _gen_deployments(self):
        deployments: dict = {}
        for p in self.pods.values():
            if p.deployment:
                deployments.setdefault((p.namespace, p.deployment), []).append(p)
        for (ns, dep), pods in deployments.items():
            spans = [(p.start if p.created is None else p.created, self._end(p.end)) for p in pods]
            for t in self.scrape_times(min(lo for lo, _ in spans)):
                n = sum(1 for lo, hi in spans if lo <= t < hi)
                self._ksm(
                    "kube_deployment_status_replicas",
                    "kube_deployment_status_replicas",
                    "gauge",
                    {"namespace": ns, "deployment": dep},
                    t,
                    n,
                )

    # ---- vLLM
    def _gen_vllm(self, pod: Pod):
        load, truth = pod.load, self._truth[pod.name]
        rng = random.Random(f"{self.seed}/vllm/{pod.namespace}/{pod.name}")
        exp_base = {"model_name": load.model_name, "engine": load.engine}
        target = {
            "namespace": pod.namespace,
            "pod": pod.name,
            "container": pod.container,
            "job": f"{pod.namespace}/{pod.deployment or pod.name}",
            "instance": f"{pod.ip}:8080",
        }
        names = {"new": ("new",), "old": ("old",), "both": ("new", "old")}[load.metric_names]
        times = self.scrape_times(pod.start, self._end(pod.end), pod.gaps)
        truth.scrape_times = list(times)
        restarts = sorted(r[0] for r in pod.restarts)
        reasons = list(load.finish_reasons)
        weights = [load.finish_reasons[r] for r in reasons]

        def zero_state():
            return {
                "prompt": 0,
                "gen": 0,
                "pre": 0,
                "pq": 0,
                "ph": 0,
                "req": {r: 0 for r in reasons},
                "h": {
                    k: ([0] * (len(b) + 1), 0.0, 0)
                    for k, b in (("ttft", TTFT_BUCKETS), ("itl", ITL_BUCKETS), ("e2e", E2E_BUCKETS))
                },
            }

        state = zero_state()
        last = pod.start
        acc_req = acc_pre = 0.0
        for t in times:
            if restarts and restarts[0] <= t:
                while restarts and restarts[0] <= t:
                    restarts.pop(0)
                state, last = zero_state(), t  # process restarted: counters start from 0
                acc_req = acc_pre = 0.0
            dt = t - last
            last = t
            # requests completed in (last, t]
            acc_req += _value(load.requests_per_s, t) * dt * (1 + load.noise * rng.uniform(-1, 1))
            n = int(acc_req)
            acc_req -= n
            acc_pre += _value(load.preemptions_per_s, t) * dt
            npre = int(acc_pre)
            acc_pre -= npre
            state["pre"] += npre
            truth.preemptions += npre
            hit = _value(load.prefix_cache_hit_ratio, t)
            for _ in range(n):
                reason = rng.choices(reasons, weights)[0]
                p_tok = max(
                    1, int(_value(load.prompt_tokens_per_request, t) * rng.uniform(0.5, 1.5))
                )
                g_tok = max(
                    1, int(_value(load.generation_tokens_per_request, t) * rng.uniform(0.5, 1.5))
                )
                ttft = load.ttft.sample(rng)
                itl = load.inter_token.sample(rng)
                e2e = round(ttft + itl * (g_tok - 1), 6)
                hits = int(p_tok * hit)
                state["prompt"] += p_tok
                state["gen"] += g_tok
                state["pq"] += p_tok
                state["ph"] += hits
                state["req"][reason] += 1
                truth.prompt_tokens += p_tok
                truth.generation_tokens += g_tok
                truth.prefix_queries += p_tok
                truth.prefix_hits += hits
                truth.requests_by_reason[reason] = truth.requests_by_reason.get(reason, 0) + 1
                truth.ttft.append(ttft)
                truth.inter_token.append(itl)
                truth.e2e.append(e2e)
                for key, val, buckets in (
                    ("ttft", ttft, TTFT_BUCKETS),
                    ("itl", itl, ITL_BUCKETS),
                    ("e2e", e2e, E2E_BUCKETS),
                ):
                    counts, total, cnt = state["h"][key]
                    for i, b in enumerate(buckets):
                        if val <= b:
                            counts[i] += 1
                    counts[-1] += 1
                    state["h"][key] = (counts, total + val, cnt + 1)
            truth.counted.append((t, truth.requests, truth.prompt_tokens, truth.generation_tokens))

            rps = _value(load.requests_per_s, t)
            running = (
                _value(load.num_requests_running, t)
                if load.num_requests_running is not None
                else round(
                    rps
                    * (
                        load.ttft.median
                        + load.inter_token.median * _value(load.generation_tokens_per_request, t)
                    )
                )
            )
            kv = (
                _value(load.kv_cache_usage, t)
                if load.kv_cache_usage is not None
                else min(1.0, round(0.02 + 0.01 * running + 0.01 * rng.random(), 4))
            )

            def emit(name, family, type_, v, extra=None, t=t):
                self._add(
                    name,
                    family,
                    type_,
                    f"vllm/{pod.name}",
                    {**exp_base, **(extra or {})},
                    target,
                    False,
                    t,
                    v,
                )

            emit("vllm:num_requests_running", "vllm:num_requests_running", "gauge", running)
            emit(
                "vllm:num_requests_waiting",
                "vllm:num_requests_waiting",
                "gauge",
                _value(load.num_requests_waiting, t),
            )
            for gen in names:
                cache = "vllm:kv_cache_usage_perc" if gen == "new" else "vllm:gpu_cache_usage_perc"
                emit(cache, cache, "gauge", kv)
                pfx = "vllm:prefix_cache_" if gen == "new" else "vllm:gpu_prefix_cache_"
                emit(pfx + "queries_total", pfx + "queries", "counter", state["pq"])
                emit(pfx + "hits_total", pfx + "hits", "counter", state["ph"])
                tpot = (
                    "vllm:inter_token_latency_seconds"
                    if gen == "new"
                    else "vllm:time_per_output_token_seconds"
                )
                self._emit_hist(emit, tpot, ITL_BUCKETS, state["h"]["itl"])
            emit("vllm:prompt_tokens_total", "vllm:prompt_tokens", "counter", state["prompt"])
            emit("vllm:generation_tokens_total", "vllm:generation_tokens", "counter", state["gen"])
            emit("vllm:num_preemptions_total", "vllm:num_preemptions", "counter", state["pre"])
            for r in reasons:
                emit(
                    "vllm:request_success_total",
                    "vllm:request_success",
                    "counter",
                    state["req"][r],
                    {"finished_reason": r},
                )
            self._emit_hist(
                emit, "vllm:time_to_first_token_seconds", TTFT_BUCKETS, state["h"]["ttft"]
            )
            self._emit_hist(
                emit, "vllm:e2e_request_latency_seconds", E2E_BUCKETS, state["h"]["e2e"]
            )

    @staticmethod
    def _emit_hist(emit, family, buckets, hstate):
        counts, total, cnt = hstate
        for b, c in zip([*buckets, math.inf], counts, strict=True):
            emit(
                f"{family}_bucket",
                family,
                "histogram",
                c,
                {"le": repr(float(b)) if b != math.inf else "+Inf"},
            )
        emit(f"{family}_sum", family, "histogram", round(total, 6))
        emit(f"{family}_count", family, "histogram", cnt)

    # ---- DCGM exporter
    def _gen_dcgm(self):
        """One DCGM target per node; each GPU attributed to the pod holding it at time t."""
        for node in self.nodes.values():
            model, fb_total = GPU_MODELS.get(node.gpu, (node.gpu, 23034))
            rng = random.Random(f"{self.seed}/dcgm/{node.name}")
            pods = sorted(
                (p for p in self.pods.values() if p.node == node.name and p.gpus),
                key=lambda p: p.start,
            )
            # allocate GPU indices in start order (lowest free index first)
            alloc: dict[str, list[int]] = {}
            for p in pods:
                free = set(range(node.gpus))
                for other, idx in alloc.items():
                    o = self.pods[other]
                    if o.start <= p.start < self._end(o.end):
                        free -= set(idx)
                idx = sorted(free)[: p.gpus]
                alloc[p.name] = idx
                self._truth[p.name].gpu_indices = list(idx)
            uuids = [
                f"GPU-{random.Random(f'{self.seed}/{node.name}/{i}').getrandbits(128):032x}"
                for i in range(node.gpus)
            ]
            uuids = [f"{u[:12]}-{u[12:16]}-{u[16:20]}-{u[20:24]}-{u[24:36]}" for u in uuids]
            target = {
                "namespace": self.dcgm_namespace,
                "pod": f"nvidia-dcgm-exporter-{node.name[-5:]}",
                "container": "nvidia-dcgm-exporter",
                "job": "nvidia-dcgm-exporter",
                "instance": f"{node.ip}:9400",
            }
            for t in self.scrape_times(node.start, node.end):
                for i in range(node.gpus):
                    holder = next(
                        (p for p in pods if i in alloc[p.name] and p.start <= t < self._end(p.end)),
                        None,
                    )
                    exp = {
                        "gpu": str(i),
                        "UUID": uuids[i],
                        "pci_bus_id": f"00000000:{0x30 + i:02X}:00.0",
                        "device": f"nvidia{i}",
                        "modelName": model,
                        "Hostname": node.name,
                        "DCGM_FI_DRIVER_VERSION": "570.133.20",
                    }
                    if holder is not None and self.dcgm_style != "none":
                        exp.update(
                            {
                                "pod": holder.name,
                                "namespace": holder.namespace,
                                "container": holder.container,
                            }
                        )
                    honor = self.dcgm_style == "honor"
                    if holder is not None and holder.load is not None:
                        ld = holder.load
                        rps = _value(ld.requests_per_s, t)
                        util = (
                            _value(ld.gpu_util, t)
                            if ld.gpu_util is not None
                            else min(100, round(20 + 30 * rps + 5 * rng.random()))
                        )
                        used = int(fb_total * _value(ld.fb_used_fraction, t))
                    elif holder is not None:
                        util, used = round(50 + 10 * rng.random()), int(fb_total * 0.5)
                    else:
                        util, used = 0, 0
                    for name, v in (
                        ("DCGM_FI_DEV_GPU_UTIL", util),
                        ("DCGM_FI_PROF_GR_ENGINE_ACTIVE", round(util / 100 * 0.95, 4)),
                        ("DCGM_FI_DEV_FB_USED", used),
                        ("DCGM_FI_DEV_FB_FREE", fb_total - used),
                    ):
                        self._add(
                            name, name, "gauge", f"dcgm/{node.name}", exp, target, honor, t, v
                        )

    # ------------------------------------------------------------------ output
    def openmetrics(self) -> str:
        """All series as OpenMetrics text with timestamps, families grouped, ending in ``# EOF``."""
        families: dict[str, list[Series]] = {}
        types: dict[str, str] = {}
        for s in self.series:
            families.setdefault(s.family, []).append(s)
            types[s.family] = s.type
        out = []
        for fam, series in families.items():
            out.append(f"# TYPE {fam} {types[fam]}\n")
            # histograms: group each label set's _bucket/_sum/_count together (OpenMetrics order)
            series = sorted(
                series,
                key=lambda s: (
                    sorted((k, v) for k, v in s.labels.items() if k != "le"),
                    _suffix_rank(s.name, fam),
                    _le_key(s.labels.get("le")),
                ),
            )
            for s in series:
                lab = "{" + _fmt_labels(s.labels) + "}" if s.labels else ""
                out.extend(f"{s.name}{lab} {_fmt_value(v)} {_fmt_ts(t)}\n" for t, v in s.samples)
        out.append("# EOF\n")
        return "".join(out)

    def write(self, path) -> str:
        with open(path, "w") as f:
            f.write(self.openmetrics())
        return str(path)

    def exposition(self, t: float, target: str | None = None) -> str:
        """Prometheus text format (no timestamps) of the values at ``t`` as the exporter serves
        them (exporter labels only; Prometheus adds target labels when it scrapes).
        ``target`` filters, e.g. ``"vllm/<pod>"``, ``"dcgm/<node>"``, ``"ksm"``."""
        families: dict[str, list[Series]] = {}
        for s in self.series:
            if (target is None or s.target == target) and s.value_at(t) is not None:
                families.setdefault(s.family, []).append(s)
        out = []
        for fam, series in families.items():
            out.append(f"# TYPE {fam} {series[0].type}\n")
            for s in series:
                lab = "{" + _fmt_labels(s.exporter_labels) + "}" if s.exporter_labels else ""
                out.append(f"{s.name}{lab} {_fmt_value(s.value_at(t))}\n")
        return "".join(out)


def _suffix_rank(name: str, family: str) -> int:
    return (
        {"_bucket": 0, "_sum": 2, "_count": 1}.get(name[len(family) :], 0) if name != family else 0
    )


def _le_key(le):
    if le is None:
        return 0.0
    return math.inf if le == "+Inf" else float(le)


def quantile_from_observations(values: list[float], q: float) -> float:
    """Exact q-quantile (nearest-rank) of raw observations, for expected values in tests."""
    if not values:
        return math.nan
    v = sorted(values)
    return v[min(len(v) - 1, max(0, math.ceil(q * len(v)) - 1))]
