"""The model cache: the LocalModelNodeGroup/LocalModelCache renderer, the apply that makes the
cluster hold exactly what the rows say, and the endpoint's node group annotation."""

import pytest

from deployments.endpoints import manifests, modelcache, modelcaches
from deployments.models import ModelCache
from deployments.workloads.errors import PermanentClusterError

pytestmark = pytest.mark.dates


@pytest.fixture
def cache(golden_endpoint):
    return ModelCache.objects.create(
        model=golden_endpoint.model, gpu_type=golden_endpoint.gpu_type, quantization="bf16"
    )


def test_a_cache_renders_a_node_group_on_the_gpus_nodes_and_the_models_cache(cache):
    group, local = modelcache.render([cache])
    assert group["kind"] == "LocalModelNodeGroup" and group["metadata"]["name"] == "gpu-l40s"
    affinity = group["spec"]["persistentVolumeSpec"]["nodeAffinity"]["required"]
    assert affinity["nodeSelectorTerms"][0]["matchExpressions"] == [
        {"key": manifests.GPU_NAME_LABEL, "operator": "In", "values": ["l40s"]}
    ]
    weights = modelcache.weights_gib(cache)  # 8B in bf16: ~15 GiB
    assert group["spec"]["storageLimit"] == f"{int(-(-weights * 1.2 // 1))}Gi"
    assert local == {
        "apiVersion": "serving.kserve.io/v1alpha1",
        "kind": "LocalModelCache",
        "metadata": {
            "name": "llama-3-1-8b-bf16",
            "labels": {"app.kubernetes.io/managed-by": "modelport"},
        },
        "spec": {
            # exactly the endpoints' storageUri: KServe matches on it
            "sourceModelUri": "hf://meta-llama/Llama-3.1-8B-Instruct",
            "modelSize": f"{int(-(-weights // 1))}Gi",
            "nodeGroups": ["gpu-l40s"],
        },
    }


def test_a_cached_endpoint_names_its_node_group_and_others_do_not(golden_endpoint, cache):
    isvc = manifests.inference_service(golden_endpoint)
    assert isvc["metadata"]["annotations"][manifests.ANNOTATION_NODE_GROUP] == "gpu-l40s"
    golden_endpoint.quantization = "awq"
    isvc = manifests.inference_service(golden_endpoint)
    assert manifests.ANNOTATION_NODE_GROUP not in isvc["metadata"]["annotations"]


def test_a_quantization_without_weights_cannot_be_cached(golden_endpoint):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="has no gptq weights"):
        modelcaches.cache_model(golden_endpoint.model, golden_endpoint.gpu_type, "gptq")


def test_applying_twice_changes_nothing_and_a_removed_cache_is_deleted(
    cache, fake_cluster, django_capture_on_commit_callbacks
):
    modelcaches.apply_model_caches(fake_cluster)
    first = dict(fake_cluster.objects)
    modelcaches.apply_model_caches(fake_cluster)
    assert fake_cluster.objects == first
    assert ("LocalModelCache", None, "llama-3-1-8b-bf16") in first
    cache.refresh_from_db()
    assert cache.applied_at and cache.status_message == "Applied."
    with django_capture_on_commit_callbacks() as callbacks:
        modelcaches.uncache_model(cache)
    assert len(callbacks) == 1  # the apply task, queued on commit
    assert modelcaches.apply_model_caches(fake_cluster) == 2
    assert not [k for k in fake_cluster.objects if k[0].startswith("LocalModel")]


def test_a_cluster_without_the_crds_is_said_on_the_rows(cache, fake_cluster):
    fake_cluster.fail_with = PermanentClusterError("LocalModelCache: the cluster does not serve")
    with pytest.raises(PermanentClusterError):
        modelcaches.apply_model_caches(fake_cluster)
    cache.refresh_from_db()
    assert cache.status_message.startswith("Not applied: LocalModelCache")
