"""GPU memory sizing for vLLM (pure: no ORM writes, no I/O).

The estimate follows what vLLM does at start-up (knowledge.md §6):

* weights   = parameters x bytes per parameter for the precision
              (bf16/fp16 2, fp8/int8 1, int4 AWQ/GPTQ 0.5 + group-128 scales/zeros = 4.5 bits);
* KV cache  = 2 (K and V) x layers x KV heads x head dim x KV bytes per token
              (`--kv-cache-dtype fp8` halves it; "auto" keeps the 16-bit activation dtype),
              times the context length, times the expected concurrent full-length sequences;
* overhead  = CUDA context, activations and CUDA graphs, a fixed amount on *every* GPU.

vLLM may use `gpu_memory_utilization` (0.9) of each GPU. With tensor parallelism over t GPUs,
weights and KV cache are split t ways and every GPU pays the overhead again:

    per GPU(t) = (weights + kv_cache) / t + overhead   must be <= memory x utilization

`tensor_parallel` is the smallest of 1, 2, 4, 8 for which that holds. vLLM itself refuses to
start only when not even one full-length sequence fits next to the weights; that is the
`can_serve` check the request path enforces. Fewer concurrent sequences than expected is a
warning (requests queue), not an error.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

GIB = 1024**3

# Bytes per parameter of the stored weights.
WEIGHT_BYTES = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5625}
# Endpoint quantisation values (deployments.endpoints.choices.Quantization) -> weight precision.
QUANTIZATION_PRECISION = {
    "bf16": "bf16",
    "fp16": "fp16",
    "fp8": "fp8",
    "int8": "int8",
    "awq": "int4",
    "gptq": "int4",
}
DTYPES = tuple(WEIGHT_BYTES)
KV_DTYPES = ("auto", "fp8")
# "auto" keeps the KV cache in the activation dtype, 16-bit for every precision above.
KV_BYTES = {"auto": 2.0, "fp8": 1.0}

TENSOR_PARALLEL_SIZES = (1, 2, 4, 8)
OVERHEAD_PER_GPU_GIB = 2.0  # CUDA context + activations + CUDA graphs (knowledge.md §6.3: 1-3 GB)
DEFAULT_GPU_MEMORY_UTILIZATION = 0.9
# Concurrent full-context sequences a spec is sized for when the request does not say.
DEFAULT_CONCURRENCY = 8

# Cheaper precisions to suggest, best quality first (with the KV dtype that goes with them).
_SUGGESTIONS = [("fp8", "auto"), ("fp8", "fp8"), ("int8", "fp8"), ("int4", "auto"), ("int4", "fp8")]
_PRECISION_RANK = {"bf16": 3, "fp16": 3, "fp8": 2, "int8": 2, "int4": 1}


class SizingInputError(ValueError):
    """An argument is out of range; `field` names it, the message says what is allowed."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(slots=True)
class SizingResult:
    weights_gib: float
    kv_cache_gib: float  # for `concurrency` full-length sequences
    kv_cache_per_sequence_gib: float
    overhead_gib: float  # per GPU
    required_gib: float  # weights + KV cache + overhead on one GPU (tensor parallel 1)
    usable_gib_per_gpu: float
    tensor_parallel: int | None  # smallest of 1/2/4/8 that fits, None if even 8 do not
    fits_single_gpu: bool
    gpu_count: int  # the GPU count `fits` and `max_sequences` refer to
    per_gpu_gib: float  # memory each of the gpu_count GPUs needs
    fits: bool  # `concurrency` sequences fit on gpu_count GPUs
    max_sequences: int  # full-length sequences the KV budget on gpu_count GPUs holds
    concurrency: int
    context: int
    precision: str
    kv_dtype: str
    warnings: list[str] = field(default_factory=list)
    suggestion: str | None = None

    @property
    def can_serve(self) -> bool:
        """vLLM starts: the weights plus one full-length sequence fit on gpu_count GPUs."""
        return self.max_sequences >= 1

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "can_serve": self.can_serve}


def precision_for(quantization: str) -> str:
    try:
        return QUANTIZATION_PRECISION[quantization]
    except KeyError:
        raise SizingInputError(
            "quantization", f"{quantization!r} is not one of {', '.join(QUANTIZATION_PRECISION)}."
        ) from None


def _bad_number(value, integer: bool) -> bool:
    if type(value) is bool or not isinstance(value, int if integer else (int, float)):
        return True
    return not (0 < value < math.inf)


@dataclass(slots=True)
class SizingInput:
    """What one estimate is computed from (the arguments of size())."""

    params_b: float
    layers: int
    kv_heads: int
    head_dim: int
    dtype: str  # weight precision
    kv_dtype: str
    context: int
    concurrency: int
    gpu_memory_gib: float
    gpu_memory_utilization: float
    gpu_count: int | None

    def check(self) -> None:
        for name, integer in (
            ("params_b", False),
            ("layers", True),
            ("kv_heads", True),
            ("head_dim", True),
            ("context", True),
            ("concurrency", True),
            ("gpu_memory_gib", False),
        ):
            value = getattr(self, name)
            if _bad_number(value, integer):
                kind = "a whole number" if integer else "a number"
                raise SizingInputError(name, f"must be {kind} above 0, got {value!r}.")
        if self.dtype not in WEIGHT_BYTES:
            raise SizingInputError("dtype", f"{self.dtype!r} is not one of {', '.join(DTYPES)}.")
        if self.kv_dtype not in KV_BYTES:
            raise SizingInputError(
                "kv_dtype", f"{self.kv_dtype!r} is not one of {', '.join(KV_DTYPES)}."
            )
        if not (0 < self.gpu_memory_utilization <= 1):
            raise SizingInputError("gpu_memory_utilization", "must be above 0 and at most 1.")
        if self.gpu_count is not None and self.gpu_count not in TENSOR_PARALLEL_SIZES:
            raise SizingInputError("gpu_count", "must be 1, 2, 4 or 8 (the tensor-parallel size).")

    def weights_gib(self, precision: str | None = None) -> float:
        return self.params_b * 1e9 * WEIGHT_BYTES[precision or self.dtype] / GIB

    def kv_per_sequence_gib(self, kv_dtype: str | None = None) -> float:
        """K and V for one full-length sequence."""
        per_token = 2 * self.layers * self.kv_heads * self.head_dim
        return per_token * KV_BYTES[kv_dtype or self.kv_dtype] * self.context / GIB


def size(
    params_b: float,
    layers: int,
    kv_heads: int,
    head_dim: int,
    dtype: str,
    kv_dtype: str,
    context: int,
    concurrency: int,
    gpu_memory_gib: float,
    gpu_memory_utilization: float = DEFAULT_GPU_MEMORY_UTILIZATION,
    gpu_count: int | None = None,
    allowed_precisions: tuple[str, ...] | None = None,
) -> SizingResult:
    """Memory estimate for serving a model with vLLM. `dtype` is a precision (bf16, fp16, fp8,
    int8, int4) or an endpoint quantisation (awq, gptq); `gpu_count` defaults to the smallest
    tensor-parallel size that fits. `allowed_precisions` limits what `suggestion` may propose."""
    spec = SizingInput(
        params_b=params_b,
        layers=layers,
        kv_heads=kv_heads,
        head_dim=head_dim,
        dtype=QUANTIZATION_PRECISION.get(dtype, dtype),
        kv_dtype=kv_dtype,
        context=context,
        concurrency=concurrency,
        gpu_memory_gib=gpu_memory_gib,
        gpu_memory_utilization=gpu_memory_utilization,
        gpu_count=gpu_count,
    )
    spec.check()
    result = _compute(spec)
    _explain(result, spec, allowed_precisions)
    return result


def _compute(spec: SizingInput) -> SizingResult:
    weights = spec.weights_gib()
    per_sequence = spec.kv_per_sequence_gib()
    kv = per_sequence * spec.concurrency
    overhead = OVERHEAD_PER_GPU_GIB
    usable = spec.gpu_memory_gib * spec.gpu_memory_utilization
    tp = None
    for t in TENSOR_PARALLEL_SIZES:
        if (weights + kv) / t + overhead <= usable:
            tp = t
            break
    count = spec.gpu_count or tp or 1
    per_gpu = (weights + kv) / count + overhead
    kv_budget = count * (usable - overhead) - weights
    max_sequences = max(0, math.floor(kv_budget / per_sequence + 1e-9))
    return SizingResult(
        weights_gib=round(weights, 2),
        kv_cache_gib=round(kv, 2),
        kv_cache_per_sequence_gib=round(per_sequence, 3),
        overhead_gib=overhead,
        required_gib=round(weights + kv + overhead, 2),
        usable_gib_per_gpu=round(usable, 2),
        tensor_parallel=tp,
        fits_single_gpu=tp == 1,
        gpu_count=count,
        per_gpu_gib=round(per_gpu, 2),
        fits=per_gpu <= usable,
        max_sequences=max_sequences,
        concurrency=spec.concurrency,
        context=spec.context,
        precision=spec.dtype,
        kv_dtype=spec.kv_dtype,
    )


def _explain(r: SizingResult, spec: SizingInput, allowed_precisions) -> None:
    """Fill in warnings and the quantisation suggestion."""
    if r.tensor_parallel is None:
        r.warnings.append(
            f"Needs {r.required_gib} GiB: does not fit even on 8 GPUs of "
            f"{spec.gpu_memory_gib:g} GiB."
        )
    elif r.tensor_parallel > 1 and (spec.gpu_count is None or spec.gpu_count < r.tensor_parallel):
        # Only when fewer are chosen (or none): "needs 2" beside a choice of 2 says nothing.
        r.warnings.append(
            f"Needs {r.tensor_parallel} GPUs per replica (tensor parallel): multi-GPU serving "
            "costs more and is harder to run; a smaller precision or context may fit one GPU."
        )
    if not r.can_serve:
        r.warnings.append(
            f"On {r.gpu_count} GPU(s) the weights ({r.weights_gib} GiB) leave no room for one "
            f"{r.context}-token sequence ({r.kv_cache_per_sequence_gib} GiB of KV cache): "
            "vLLM would refuse to start."
        )
    elif not r.fits:
        r.warnings.append(
            f"On {r.gpu_count} GPU(s) only {r.max_sequences} of {r.concurrency} concurrent "
            f"{r.context}-token sequences fit in the KV cache; the rest will queue."
        )
    if r.fits_single_gpu:
        return
    for precision, kv_dtype in _SUGGESTIONS:
        if _PRECISION_RANK[precision] > _PRECISION_RANK[r.precision]:
            continue
        if (precision, kv_dtype) == (r.precision, r.kv_dtype) or (
            kv_dtype == "auto" and r.kv_dtype == "fp8"
        ):
            continue
        if allowed_precisions is not None and precision not in allowed_precisions:
            continue
        kv = spec.kv_per_sequence_gib(kv_dtype) * spec.concurrency
        one_gpu = spec.weights_gib(precision) + kv + OVERHEAD_PER_GPU_GIB
        if one_gpu <= r.usable_gib_per_gpu:
            kv_text = " with an fp8 KV cache" if kv_dtype == "fp8" else ""
            r.suggestion = (
                f"Quantised to {precision}{kv_text} it fits one GPU "
                f"({round(one_gpu, 2)} of {r.usable_gib_per_gpu} GiB usable)."
            )
            return


def size_for_spec(spec: dict[str, Any], concurrency: int | None = None) -> SizingResult:
    """Size an endpoint spec (deployments.endpoints.services.SPEC_FIELDS values: `model` a CatalogModel,
    `gpu_type` a GpuType, `gpu_count`, `quantization`, `kv_cache_dtype`, `max_context_length`).
    `concurrency` defaults to spec["concurrency"] or DEFAULT_CONCURRENCY."""
    model, gpu_type = spec["model"], spec["gpu_type"]
    allowed = tuple(
        QUANTIZATION_PRECISION[q]
        for q in (model.allowed_quantizations or [])
        if q in QUANTIZATION_PRECISION
    )
    return size(
        params_b=float(model.parameters_b),
        layers=model.num_layers,
        kv_heads=model.num_kv_heads,
        head_dim=model.head_dim,
        dtype=precision_for(spec.get("quantization") or "bf16"),
        kv_dtype=spec.get("kv_cache_dtype") or "auto",
        context=int(spec.get("max_context_length") or model.native_context_length),
        concurrency=int(concurrency or spec.get("concurrency") or DEFAULT_CONCURRENCY),
        gpu_memory_gib=float(gpu_type.memory_gib),
        gpu_count=int(spec.get("gpu_count") or 1),
        allowed_precisions=allowed or None,
    )


def check_spec_fits(spec: dict[str, Any]) -> str | None:
    """The reason a spec cannot be served on its GPUs, or None when vLLM will start."""
    result = size_for_spec(spec, concurrency=1)
    if result.can_serve:
        return None
    # The same per-GPU figures the estimate shows ("needed per GPU ... of ... usable").
    split = f", split over {result.gpu_count} GPUs," if result.gpu_count > 1 else ""
    parts = [
        f"{spec['model'].name} in {result.precision} needs {result.per_gpu_gib} GiB per GPU "
        f"({result.weights_gib} GiB of weights and {result.kv_cache_per_sequence_gib} GiB of KV "
        f"cache for one {result.context}-token sequence{split} plus {result.overhead_gib:g} GiB "
        f"overhead), but a {spec['gpu_type'].name} has {result.usable_gib_per_gpu} GiB usable."
    ]
    if result.tensor_parallel:
        parts.append(f"Use {result.tensor_parallel} GPUs per replica.")
    if result.suggestion:
        parts.append(result.suggestion)
    return " ".join(parts)


# --- what one predictor pod needs besides GPU memory ------------------------------------------
#
# KServe merges the runtime's container `resources` under ours, and both upstream vLLM
# runtimes declare `limits: {cpu: "1", memory: 2Gi}`: a request above a limit the pod does not
# set itself makes the Deployment invalid. So every pod gets explicit limits equal to its
# requests (cpu, memory, ephemeral storage), which also gives GPU pods the Guaranteed QoS class
# (last to be evicted under node pressure).

# Sized to fit the smallest GPU nodes of the catalog (g5/g6.xlarge: 4 vCPU, 16 GiB) with one
# GPU: about 3.9 vCPU and 14.5 GiB allocatable once the kubelet and daemons are reserved.
CPU_PER_GPU = 2  # one engine process per GPU rank
CPU_BASE = 1  # API server and tokenizer
MEMORY_BASE_GIB = 6  # Python, CUDA host allocations, tokenizer, CUDA graph bookkeeping
# Safetensors are memory-mapped and streamed to the GPUs; their page cache is charged to the
# pod's cgroup but reclaimable. A quarter of the checkpoint keeps the loader from thrashing.
HOST_MEMORY_PER_WEIGHT = 0.25
# /dev/shm (emptyDir medium Memory, counted against the memory limit): vLLM's engine processes
# exchange inputs through it; NCCL uses it between tensor-parallel ranks.
SHM_GIB_SINGLE_GPU = 2
SHM_GIB_PER_GPU_TP = 4
# Ephemeral storage: the storage-initializer downloads the checkpoint into an emptyDir on the
# node's disk; Hugging Face repos often hold a second copy (original/*.pth) next to the
# safetensors, and vLLM caches compiled kernels under /tmp.
EPHEMERAL_PER_WEIGHT = 2.0
EPHEMERAL_BASE_GIB = 20

# Cold start (knowledge: 3-5 minutes for a 7B model once the node exists, longer for 70B).
LOAD_BASE_SECONDS = 120  # process start, CUDA init, profiling, CUDA graph capture
LOAD_SECONDS_PER_GIB = 8.0  # weights from local disk to GPU (+ torch.compile per layer)
STARTUP_SAFETY = 2.0  # the probe allows twice the estimate before the kubelet restarts
STARTUP_MIN_SECONDS = 600
STARTUP_PERIOD_SECONDS = 10
NODE_SECONDS = 180  # Karpenter launching a GPU node and the device plugin reporting GPUs
IMAGE_PULL_SECONDS = 240  # the vLLM image (~10 GB) on a fresh node
DOWNLOAD_GIB_PER_SECOND = 0.2  # hf:// download by the storage-initializer


@dataclass(frozen=True, slots=True)
class PodResources:
    cpu: int
    memory_gib: int  # container memory, /dev/shm included
    shm_gib: int
    ephemeral_gib: int
    weights_gib: float  # the checkpoint the pod downloads and reads
    load_seconds: int  # estimated model load once the container runs
    startup_seconds: int  # what the startup probe allows
    cold_start_seconds: int  # node + image + download + load: a replica from nothing

    @property
    def startup_failure_threshold(self) -> int:
        return math.ceil(self.startup_seconds / STARTUP_PERIOD_SECONDS)


def pod_resources(params_b: float, quantization: str, gpu_count: int) -> PodResources:
    """CPU, memory, /dev/shm, disk and startup allowance of one replica (pure)."""
    gpus = max(1, int(gpu_count))
    # fp8 is quantised at load time: the pod downloads and reads the 16-bit checkpoint.
    checkpoint = "bf16" if quantization == "fp8" else precision_for(quantization)
    weights = float(params_b) * 1e9 * WEIGHT_BYTES[checkpoint] / GIB
    shm = SHM_GIB_SINGLE_GPU if gpus == 1 else SHM_GIB_PER_GPU_TP * gpus
    memory = math.ceil(MEMORY_BASE_GIB + HOST_MEMORY_PER_WEIGHT * weights + shm)
    load = math.ceil(LOAD_BASE_SECONDS + LOAD_SECONDS_PER_GIB * weights)
    startup = max(STARTUP_MIN_SECONDS, math.ceil(STARTUP_SAFETY * load))
    download = math.ceil(weights / DOWNLOAD_GIB_PER_SECOND)
    return PodResources(
        cpu=CPU_BASE + CPU_PER_GPU * gpus,
        memory_gib=memory,
        shm_gib=shm,
        ephemeral_gib=math.ceil(EPHEMERAL_BASE_GIB + EPHEMERAL_PER_WEIGHT * weights),
        weights_gib=round(weights, 2),
        load_seconds=load,
        startup_seconds=startup,
        cold_start_seconds=NODE_SECONDS + IMAGE_PULL_SECONDS + download + load,
    )
