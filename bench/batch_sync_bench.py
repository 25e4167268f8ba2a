"""Batch-job sync benchmark: how many SQL queries and how long `sync_batch_jobs` takes to
follow N running jobs x S shards (Jobs + pods listed once each, all namespaces).

    .venv/bin/python bench/batch_sync_bench.py                     # 10, 25 and 50 jobs x 100 shards
    .venv/bin/python bench/batch_sync_bench.py --database-url postgres://...

The cluster side is an in-memory client answering the two list calls with Jobs and pods in
the exact shape the apiserver returns (completedIndexes, one pod per index, half the pods
finished with a termination message, some with a DisruptionTarget condition), so the figure
is the portal's own cost: loading the rows, folding the objects, one bulk UPDATE, one INSERT.
Each size is synced twice: the first sync changes every job, the second changes nothing.
Half the jobs have a cost cap (never reached), so the running-cost check is in the figure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _objects(jobs, shards: int) -> tuple[list[dict], list[dict]]:
    from deployments.batch import manifests

    job_objs, pods = [], []
    for job in jobs:
        labels = manifests.labels(job)
        done = shards // 2
        job_objs.append(
            {
                "metadata": {"name": job.job_name, "namespace": job.namespace, "labels": labels},
                "status": {"completedIndexes": f"0-{done - 1}", "active": shards - done},
            }
        )
        for index in range(shards):
            finished = index < done
            state = (
                {
                    "terminated": {
                        "exitCode": 0,
                        "startedAt": "2026-12-01T10:00:00Z",
                        "finishedAt": "2026-12-01T10:20:00Z",
                        "message": json.dumps({"prompt_tokens": 900, "completion_tokens": 3000}),
                    }
                }
                if finished
                else {"running": {"startedAt": "2026-12-01T10:00:00Z"}}
            )
            conditions = []
            phase = "Succeeded" if finished else "Running"
            pods.append(
                {
                    "metadata": {
                        "name": f"{job.job_name}-{index}-x",
                        "uid": f"{job.uuid}-{index}",
                        "labels": labels,
                        "annotations": {"batch.kubernetes.io/job-completion-index": str(index)},
                    },
                    "status": {
                        "phase": phase,
                        "conditions": conditions,
                        "containerStatuses": [{"name": "run-batch", "state": state}],
                    },
                }
            )
            if index % 10 == 9:  # an earlier attempt of this index was reclaimed
                pods.append(
                    {
                        "metadata": {
                            "name": f"{job.job_name}-{index}-old",
                            "uid": f"{job.uuid}-{index}-old",
                            "labels": labels,
                            "annotations": {"batch.kubernetes.io/job-completion-index": str(index)},
                        },
                        "status": {
                            "phase": "Failed",
                            "conditions": [
                                {
                                    "type": "DisruptionTarget",
                                    "status": "True",
                                    "reason": "TerminationByKubelet",
                                }
                            ],
                            "containerStatuses": [
                                {
                                    "name": "run-batch",
                                    "state": {
                                        "terminated": {
                                            "exitCode": 143,
                                            "startedAt": "2026-12-01T09:00:00Z",
                                            "finishedAt": "2026-12-01T09:30:00Z",
                                        }
                                    },
                                }
                            ],
                        },
                    }
                )
    return job_objs, pods


class ListingClient:
    def __init__(self, jobs, pods):
        self.jobs, self.pods, self.calls = jobs, pods, 0

    def list(self, api_version, kind, namespace=None, label_selector=None):
        self.calls += 1
        return self.jobs if kind == "Job" else self.pods


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", default="10,25,50")
    parser.add_argument("--shards", type=int, default=100)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="batch-bench-"))
    os.environ["DATABASE_URL"] = args.database_url or f"sqlite:///{work / 'bench.sqlite3'}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    call_command("migrate", verbosity=0)
    from deployments.batch import observe, reconcile
    from deployments.batch.choices import BatchJobStatus
    from deployments.k8s import ClusterClient
    from deployments.models import BatchJob
    from tests.factories import (
        CatalogModelFactory,
        GpuRateFactory,
        GpuTypeFactory,
        InstanceOfferingFactory,
        TeamFactory,
    )

    team = TeamFactory(slug="bench")
    model, gpu = CatalogModelFactory(), GpuTypeFactory(name="L4-bench")
    offering = InstanceOfferingFactory(gpu_type=gpu, instance_type="g6.xlarge", gpus_per_node=1)
    GpuRateFactory(offering=offering, capacity_type="spot", hourly_price=Decimal("0.30"))
    results = []
    for count in [int(n) for n in args.jobs.split(",")]:
        BatchJob.objects.all().delete()
        jobs = BatchJob.objects.bulk_create(
            BatchJob(
                team=team,
                name=f"job-{i}",
                model=model,
                gpu_type=gpu,
                quantization="bf16",
                input_uri="s3://bench/in.jsonl",
                output_uri="s3://bench/out",
                shards=args.shards,
                parallelism=args.shards,
                status=BatchJobStatus.RUNNING,
                generation=1,
                applied_generation=1,
                run_shards=list(range(args.shards)),
                shard_states=[observe.new_shard() for _ in range(args.shards)],
                cost_cap=Decimal("100000.00") if i % 2 else None,  # checked, never reached
            )
            for i in range(count)
        )
        jobs = list(BatchJob.objects.select_related("team"))
        client = ListingClient(*_objects(jobs, args.shards))
        ClusterClient.from_settings = classmethod(lambda cls, c=client: c)
        row = {"jobs": count, "shards": args.shards, "pods": len(client.pods)}
        for label in ("first", "again"):
            with CaptureQueriesContext(connection) as queries:
                start = time.perf_counter()
                changed = reconcile.sync_batch_jobs()
                row[f"{label}_s"] = round(time.perf_counter() - start, 3)
            row[f"{label}_queries"], row[f"{label}_changed"] = len(queries), changed
        row["list_calls"] = client.calls
        results.append(row)
        print(json.dumps(row), flush=True)
    print(json.dumps({"database": os.environ["DATABASE_URL"].split(":", 1)[0], "results": results}))


if __name__ == "__main__":
    main()
