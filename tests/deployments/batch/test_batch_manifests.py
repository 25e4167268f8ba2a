"""The rendered batch Job: golden file (tests/deployments/golden/batch_job_resumed.yaml,
regenerated with --update-golden), and what must never change in it."""

from deployments.batch import manifests


def test_resumed_batch_job_matches_golden(golden_job, golden, monkeypatch):
    # The shard program is deployments/batch/entrypoint.py verbatim (test_batch_entrypoint
    # checks the command); the golden file names it instead of repeating its 200 lines.
    monkeypatch.setattr(manifests, "ENTRYPOINT", "<deployments/batch/entrypoint.py>")
    golden("batch_job_resumed.yaml", manifests.manifest_yaml(golden_job))


def test_rendering_is_deterministic(golden_job):
    assert manifests.manifest_yaml(golden_job) == manifests.manifest_yaml(golden_job)


def test_resumed_run_maps_completion_indexes_to_its_shards(golden_job):
    job = manifests.job_manifest(golden_job)
    assert job["metadata"]["name"] == "nightly-r2"
    assert job["spec"]["completions"] == 3 and job["spec"]["parallelism"] == 3
    env = {
        e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert (env["SHARD_MAP"], env["SHARD_COUNT"]) == ("1,4,5", "6")
    assert env["INPUT"] == "/mnt/input/batches/in.jsonl"  # pvc:// mounted read-only
    assert job["spec"]["activeDeadlineSeconds"] == 12 * 3600
