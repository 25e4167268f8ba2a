"""Hostile input cannot inject fields into manifests: a clear 400 and nothing applied.

Three layers are tested: the API (serializer + model validation -> 400, no row, no apply),
the models (admin-entered catalog/offering values), and the renderer itself, which refuses to
render a stored value that slipped past validation (the apply then fails; nothing is applied).
"""

import pytest
from django.core.exceptions import ValidationError

from catalog.models import CatalogModel, InstanceOffering
from deployments.endpoints import manifests
from deployments.endpoints.choices import EndpointStatus
from deployments.endpoints.tasks import apply_endpoint
from deployments.models import Endpoint

HOSTILE_NAMES = [
    "chat\n---\nkind: Secret",
    "chat: {spec: evil}",
    "Chat",
    "-chat",
    "chat-",
    "chat.evil",
    "../../etc/passwd",
    "сhat",  # Cyrillic 'с'
    "a" * 41,
    'chat"}) or vector(1) #',
    "",
]

HOSTILE_SPEC = [
    ("max_context_length", "8192 --trust-remote-code"),
    ("max_context_length", "8192\n- --trust-remote-code"),
    ("quantization", "bf16 --enforce-eager"),
    ("kv_cache_dtype", "fp8\n  x: y"),
    ("gpu_count", "1; rm -rf /"),
    ("target_queue_depth", '4"}) or vector(1'),
    ("capacity_type", "spot\nkarpenter.sh/nodepool: evil"),
    ("min_replicas", -1),
    ("max_replicas", 10**9),
]


@pytest.fixture
def body(team, llama_8b, gpu_l4):
    return {
        "team": team.slug,
        "name": "chat",
        "model": llama_8b.slug,
        "gpu_type": gpu_l4.name,
        "quantization": "bf16",
        "kv_cache_dtype": "auto",
        "max_context_length": 4096,
        "min_replicas": 1,
        "max_replicas": 1,
        "capacity_type": "on-demand",
    }


def _post(api_client, data, capture):
    with capture(execute=True):
        return api_client.post("/api/v1/endpoints/", data, format="json")


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_endpoint_names_get_a_clear_400_and_nothing_is_applied(
    api_client, body, name, fake_cluster, django_capture_on_commit_callbacks
):
    r = _post(api_client, {**body, "name": name}, django_capture_on_commit_callbacks)
    assert r.status_code == 400
    assert "name" in r.json()
    assert not Endpoint.objects.exists()
    assert fake_cluster.applied == []


@pytest.mark.parametrize("field, value", HOSTILE_SPEC)
def test_hostile_spec_values_get_a_clear_400_and_nothing_is_applied(
    api_client, body, field, value, fake_cluster, django_capture_on_commit_callbacks
):
    r = _post(api_client, {**body, field: value}, django_capture_on_commit_callbacks)
    assert r.status_code == 400, r.content
    assert field in r.json()
    assert not Endpoint.objects.exists()
    assert fake_cluster.applied == []


@pytest.mark.parametrize("tz", ["Europe/Berlin\n  start: '* * * * *'", "Mars/Olympus", "../UTC"])
def test_hostile_schedule_timezone_is_refused(
    api_client, body, tz, fake_cluster, django_capture_on_commit_callbacks
):
    data = {
        **body,
        "schedule_enabled": True,
        "schedule_timezone": tz,
        "schedule_start": "08:00",
        "schedule_end": "18:00",
    }
    r = _post(api_client, data, django_capture_on_commit_callbacks)
    assert r.status_code == 400
    assert "schedule_timezone" in r.json()
    assert fake_cluster.applied == []


def test_valid_request_still_applies(
    api_client, body, fake_cluster, django_capture_on_commit_callbacks
):
    r = _post(api_client, body, django_capture_on_commit_callbacks)
    assert r.status_code == 202, r.content
    assert len(fake_cluster.applied) == 1


@pytest.mark.parametrize(
    "uri",
    [
        "hf://meta-llama/Llama-3.1-8B --trust-remote-code",
        "hf://meta-llama/Llama\nkind: Secret",
        "file:///etc/passwd",
        "https://evil.example.com/model",
        "hf://org/model:main; curl evil",
    ],
)
def test_hostile_model_uris_are_rejected_by_the_catalog(llama_8b, uri):
    llama_8b.storage_uri = uri
    with pytest.raises(ValidationError) as exc:
        llama_8b.full_clean()
    assert "storage_uri" in exc.value.message_dict


@pytest.mark.parametrize(
    "labels",
    [
        {"karpenter.sh/nodepool": "gpu\nkind: Secret"},
        {"evil key": "x"},
        {"karpenter.sh/nodepool": "x" * 64},
        {"a/b/c": "x"},
    ],
)
def test_hostile_offering_node_labels_are_rejected(gpu_l4, labels):
    offering = InstanceOffering.objects.filter(gpu_type=gpu_l4).first()
    offering.node_labels = labels
    with pytest.raises(ValidationError) as exc:
        offering.full_clean()
    assert "node_labels" in exc.value.message_dict


def test_value_that_slipped_past_validation_is_never_applied(approved_endpoint, fake_cluster):
    CatalogModel.objects.filter(pk=approved_endpoint.model_id).update(
        storage_uri="hf://org/model\n    command: [sh, -c, evil]"
    )
    assert apply_endpoint(approved_endpoint.pk, 1) == "failed"
    ep = Endpoint.objects.get(pk=approved_endpoint.pk)
    assert ep.status == EndpointStatus.FAILED
    assert "storage URI" in ep.status_message and "is not allowed" in ep.status_message
    assert fake_cluster.applied == []


def test_hostile_node_label_in_the_database_is_never_applied(approved_endpoint, fake_cluster):
    InstanceOffering.objects.filter(pk=approved_endpoint.offering_id).update(
        node_labels={"karpenter.sh/nodepool": "gpu\n  hostNetwork: true"}
    )
    assert apply_endpoint(approved_endpoint.pk, 1) == "failed"
    assert fake_cluster.applied == []
    assert "invalid value" in Endpoint.objects.get(pk=approved_endpoint.pk).status_message


def test_hostile_name_in_the_database_is_never_rendered(golden_endpoint):
    Endpoint.objects.filter(pk=golden_endpoint.pk).update(name='chat"}) or vector(1) #')
    golden_endpoint.refresh_from_db()
    with pytest.raises(manifests.ManifestError, match="not a DNS label"):
        manifests.render(golden_endpoint)


def test_manifests_api_answers_400_for_an_unrenderable_endpoint(approved_endpoint, staff_client):
    CatalogModel.objects.filter(pk=approved_endpoint.model_id).update(storage_uri="file:///etc")
    r = staff_client.get(f"/api/v1/endpoints/{approved_endpoint.uuid}/manifests/")
    assert r.status_code == 400
    assert "storage URI" in str(r.json()["detail"])


def test_yaml_never_contains_an_injected_document(golden_endpoint):
    text = manifests.manifest_yaml(golden_endpoint)
    assert text.count("\n---\n") == 4  # exactly five documents (max_replicas 3: with a PDB)
