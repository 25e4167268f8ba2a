"""`manage.py devcluster --engine-endpoint TEAM/NAME`: which node's pods run the real engine,
and the placeholder token Secret a gated model waits for (its download is what the engine
replaces with the tiny model)."""

from django.conf import settings

from catalog.models import InstanceOffering
from deployments.endpoints import manifests
from deployments.management.commands.devcluster import catalog_nodes, engine_args
from tests.factories import CatalogModelFactory, EndpointFactory


def test_the_engine_runs_on_the_endpoints_catalog_node(team, gpu_l4, llama_8b):
    offering = InstanceOffering.objects.get(instance_type="t-g6.xlarge")
    EndpointFactory(team=team, name="chat", gpu_type=gpu_l4, model=llama_8b, offering=offering)
    args = engine_args("search/chat")
    assert args == ["--engine-node", "dev-t-g6-xlarge"]  # not gated: no Secret
    assert args[1] in {n["name"] for n in catalog_nodes()}  # a node devcluster makes


def test_a_gated_model_gets_a_placeholder_token_secret_in_its_namespace(team, gpu_l4):
    gated = CatalogModelFactory(gated=True)
    ep = EndpointFactory(team=team, name="chat", gpu_type=gpu_l4, model=gated)
    secret = f"{ep.namespace}/{settings.KUBE_HF_TOKEN_SECRET}/{manifests.HF_TOKEN_KEY}"
    assert engine_args("search/chat")[2:] == ["--token-secret", secret]


def test_an_unknown_endpoint_runs_nothing_for_real(team):
    assert engine_args("search/nope") == []
    assert engine_args("nonsense") == []
