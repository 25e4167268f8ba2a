"""`manage.py sizing`: the GPU memory estimate for a model, as text or one JSON object.

Contract (automation and acceptance checks rely on it; keep it stable):

    manage.py sizing --params-b 70 --layers 80 --kv-heads 8 --head-dim 128 --dtype bf16 \
        --kv-dtype auto --context 8192 --concurrency 16 --gpu-memory-gib 80 --json

prints exactly one JSON object with at least weights_gib, kv_cache_gib, overhead_gib,
required_gib, tensor_parallel (1/2/4/8 or null) and fits_single_gpu. Bad arguments exit
non-zero with a message naming the argument.
"""

import json

from django.core.management.base import BaseCommand, CommandError

from deployments.workloads.sizing import (
    DEFAULT_GPU_MEMORY_UTILIZATION,
    DTYPES,
    KV_DTYPES,
    QUANTIZATION_PRECISION,
    SizingInputError,
    size,
)


class Command(BaseCommand):
    help = "Estimate vLLM GPU memory (weights, KV cache, overhead) and the tensor-parallel size."

    def add_arguments(self, parser):
        parser.add_argument("--params-b", type=float, required=True, help="Parameters, billions")
        parser.add_argument("--layers", type=int, required=True)
        parser.add_argument("--kv-heads", type=int, required=True, help="KV (not query) heads")
        parser.add_argument("--head-dim", type=int, required=True)
        parser.add_argument(
            "--dtype", default="bf16", choices=sorted({*DTYPES, *QUANTIZATION_PRECISION})
        )
        parser.add_argument("--kv-dtype", default="auto", choices=KV_DTYPES)
        parser.add_argument("--context", type=int, required=True, help="max model length, tokens")
        parser.add_argument(
            "--concurrency", type=int, default=1, help="concurrent full-length sequences"
        )
        parser.add_argument("--gpu-memory-gib", type=float, required=True)
        parser.add_argument(
            "--gpu-memory-utilization", type=float, default=DEFAULT_GPU_MEMORY_UTILIZATION
        )
        parser.add_argument(
            "--gpu-count",
            type=int,
            default=None,
            help="GPUs per replica to check (default: smallest that fits)",
        )
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args, **opts):
        try:
            result = size(
                params_b=opts["params_b"],
                layers=opts["layers"],
                kv_heads=opts["kv_heads"],
                head_dim=opts["head_dim"],
                dtype=opts["dtype"],
                kv_dtype=opts["kv_dtype"],
                context=opts["context"],
                concurrency=opts["concurrency"],
                gpu_memory_gib=opts["gpu_memory_gib"],
                gpu_memory_utilization=opts["gpu_memory_utilization"],
                gpu_count=opts["gpu_count"],
            )
        except SizingInputError as exc:
            raise CommandError(f"--{exc.field.replace('_', '-')}: {exc.message}") from exc
        if opts["json"]:
            self.stdout.write(json.dumps(result.as_dict(), sort_keys=True))
            return
        tp = result.tensor_parallel
        self.stdout.write(
            f"weights {result.weights_gib} GiB + KV cache {result.kv_cache_gib} GiB "
            f"+ overhead {result.overhead_gib} GiB/GPU = {result.required_gib} GiB\n"
            f"usable per GPU {result.usable_gib_per_gpu} GiB -> "
            + (f"tensor parallel {tp}" if tp else "does not fit on 8 GPUs")
        )
        for warning in result.warnings:
            self.stdout.write(self.style.WARNING(f"warning: {warning}"))
        if result.suggestion:
            self.stdout.write(f"suggestion: {result.suggestion}")
