"""The model catalog page: cards with size, context, license, gating and who provides the
token, precisions, per-GPU fit and monthly cost from the sizing engine and the price table,
filters and search, and "Request this model" prefilling the request form."""

from decimal import Decimal
from html import unescape

import pytest
from django.urls import reverse

from catalog.choices import CapacityType
from catalog.pricing import cheapest_offering, this_month
from deployments.endpoints import model_catalog
from deployments.endpoints.estimates import monthly_cost
from deployments.workloads.sizing import size_for_spec
from tests.factories import CatalogModelFactory

URL = reverse("deployments:model_catalog")
pytestmark = pytest.mark.usefixtures("in_november")


@pytest.fixture
def big(db):
    return CatalogModelFactory(
        name="Llama 3.1 405B Instruct",
        slug="llama-3-1-405b",
        parameters_b=Decimal("405.85"),
        num_layers=126,
        num_attention_heads=128,
        gated=True,
        license="llama3.1",
        allowed_quantizations=["fp8", "bf16"],
    )


def test_cards_show_size_context_license_gating_and_precisions(
    member_client, llama_8b, big, gpu_l4, gpu_h100
):
    body = unescape(member_client.get(URL).content.decode())
    assert body.count('data-testid="model-card"') == 2
    assert "8.03B parameters" in body and "131,072 tokens context" in body
    assert "License: llama3.1" in body
    gated = body.split('data-model="llama-3-1-405b"')[1].split("</article>")[0]
    assert 'data-testid="gated"' in gated and "accepts the model's license" in gated
    assert "'hf-token' (key HF_TOKEN) in your team's namespace" in gated
    assert "FP8, BF16 (none)" in gated
    assert "Open weights" in body.split('data-model="llama-3-1-8b"')[1].split("</article>")[0]


def test_fit_and_monthly_cost_are_the_sizing_engine_and_price_table_figures(
    member_client, llama_8b, gpu_l4, gpu_h100
):
    (card,), _ = model_catalog.cards()
    by_gpu = {f.gpu_type.name: f for f in card.fits}
    spec = {
        "model": llama_8b,
        "gpu_type": gpu_l4,
        "gpu_count": by_gpu["L4-test"].gpu_count,
        "quantization": "bf16",
        "max_context_length": 8192,
        "min_replicas": 1,
        "max_replicas": 1,
    }
    assert size_for_spec(spec).fits
    if spec["gpu_count"] > 1:  # and it is the smallest count that fits
        assert not size_for_spec({**spec, "gpu_count": spec["gpu_count"] // 2}).fits
    price = cheapest_offering(gpu_l4, CapacityType.ON_DEMAND, spec["gpu_count"])
    want = monthly_cost(price, spec, this_month()).minimum
    assert by_gpu["L4-test"].monthly == want
    body = member_client.get(URL).content.decode()
    assert f"${want:,.2f}" in body


def test_a_model_that_fits_nowhere_says_so(member_client, big, gpu_l4):
    (card,), _ = model_catalog.cards()
    assert [f.fits for f in card.fits] == [False]
    body = member_client.get(URL).content.decode()
    assert "does not fit" in body


def test_filters_search_gated_fits_on_and_precision(member_client, llama_8b, big, gpu_l4, gpu_h100):
    def slugs(**query):
        body = member_client.get(URL, query, HTTP_HX_REQUEST="true").content.decode()
        assert "<html" not in body  # the cards fragment
        return sorted(s.split('"')[0] for s in body.split('data-model="')[1:])

    assert slugs(q="405B") == ["llama-3-1-405b"]
    assert slugs(gated="yes") == ["llama-3-1-405b"] and slugs(gated="no") == ["llama-3-1-8b"]
    assert slugs(fits_on="L4-test") == ["llama-3-1-8b"]
    assert slugs(precision="fp8") == ["llama-3-1-405b", "llama-3-1-8b"]
    assert slugs(q="no-such-model") == []
    assert member_client.get(URL, {"precision": "bogus", "gated": "x"}).status_code == 200


def test_request_this_model_prefills_the_request_form(member_client, llama_8b, gpu_l4):
    body = unescape(member_client.get(URL).content.decode())
    link = body.split('data-testid="request-model" href="')[1].split('"')[0]
    assert link.startswith(reverse("deployments:endpoint_create") + "?model=llama-3-1-8b")
    form = member_client.get(link).content.decode()
    assert f'<option value="{llama_8b.pk}" ' in form
    assert f'value="{llama_8b.pk}" data-quantization' in form or "selected" in form
    chosen = form.split(f'value="{llama_8b.pk}"')[1].split(">")[0]
    assert "selected" in chosen
    gpu = form.split(f'<option value="{gpu_l4.pk}"')[1].split(">")[0]
    assert "selected" in gpu
    assert 'name="max_context_length" value="8192"' in form
    assert "load" in form.split('id="endpoint-request"')[1].split("hx-trigger=")[1][:60]


def test_prefill_ignores_unknown_and_out_of_range_values(db, llama_8b):
    assert model_catalog.prefill({"model": "nope"}) == {}
    got = model_catalog.prefill(
        {"model": "llama-3-1-8b", "quantization": "awq", "gpu_count": "99", "gpu_type": "X"}
    )
    assert got == {"model": llama_8b.pk}


def test_catalog_needs_a_login(client):
    assert client.get(URL).status_code == 302
