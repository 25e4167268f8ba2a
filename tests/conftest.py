"""Shared fixtures: the people (owner / member / viewer / outsider / staff), their clients,
and a priced GPU catalog. Real-server fixtures live in tests/infra (pytest plugin)."""

from decimal import Decimal

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from portal.models import Membership

from .factories import (
    CatalogModelFactory,
    GpuRateFactory,
    GpuTypeFactory,
    InstanceOfferingFactory,
    MembershipFactory,
    TeamFactory,
    UserFactory,
)

pytest_plugins = ["tests.infra.fixtures", "tests.workers"]


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    """PBKDF2 costs ~0.3 s per user; tests create hundreds of users."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def team(db):
    return TeamFactory(name="Search", slug="search", max_gpus=16)


@pytest.fixture
def other_team(db):
    return TeamFactory(name="Ads", slug="ads")


@pytest.fixture
def owner(team):
    return MembershipFactory(team=team, user=UserFactory(username="alice"), role=Membership.Role.ADMIN).user


@pytest.fixture
def member(team):
    return MembershipFactory(team=team, user=UserFactory(username="bob"), role=Membership.Role.MEMBER).user


@pytest.fixture
def viewer(team):
    return MembershipFactory(team=team, user=UserFactory(username="vera"), role=Membership.Role.VIEWER).user


@pytest.fixture
def outsider(other_team):
    return MembershipFactory(team=other_team, user=UserFactory(username="charlie"), role=Membership.Role.ADMIN).user


@pytest.fixture
def staff(db):
    return UserFactory(username="stella", is_staff=True, is_superuser=True)


def _client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def owner_client(owner):
    return _client_for(owner)


@pytest.fixture
def member_client(member):
    return _client_for(member)


@pytest.fixture
def viewer_client(viewer):
    return _client_for(viewer)


@pytest.fixture
def outsider_client(outsider):
    return _client_for(outsider)


@pytest.fixture
def staff_client(staff):
    return _client_for(staff)


def _api_client_for(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def api_client(member):
    """API client of a team member, authenticated with a token like a script would be."""
    return _api_client_for(member)


@pytest.fixture
def api_client_for():
    return _api_client_for


@pytest.fixture
def gpu_l4(db):
    gpu = GpuTypeFactory(name="L4-test", memory_gib=Decimal("24"))
    offering = InstanceOfferingFactory(gpu_type=gpu, instance_type="t-g6.xlarge", gpus_per_node=1)
    GpuRateFactory(offering=offering, capacity_type="on-demand", hourly_price=Decimal("0.8000"))
    GpuRateFactory(offering=offering, capacity_type="spot", hourly_price=Decimal("0.3000"))
    big = InstanceOfferingFactory(gpu_type=gpu, instance_type="t-g6.12xlarge", gpus_per_node=4)
    GpuRateFactory(offering=big, capacity_type="on-demand", hourly_price=Decimal("4.6000"))
    return gpu


@pytest.fixture
def gpu_h100(db):
    gpu = GpuTypeFactory(name="H100-test", memory_gib=Decimal("80"))
    offering = InstanceOfferingFactory(gpu_type=gpu, instance_type="t-p5.48xlarge", gpus_per_node=8)
    GpuRateFactory(offering=offering, capacity_type="on-demand", hourly_price=Decimal("55.0400"))
    return gpu


@pytest.fixture
def llama_8b(db):
    return CatalogModelFactory(name="Llama 3.1 8B Instruct", slug="llama-3-1-8b")


@pytest.fixture
def endpoint_data(llama_8b, gpu_l4):
    """Valid request data for `services.request_endpoint` (model objects, not ids)."""
    return {
        "name": "chat",
        "model": llama_8b,
        "gpu_type": gpu_l4,
        "gpu_count": 1,
        "quantization": "bf16",
        "kv_cache_dtype": "auto",
        "max_context_length": 8192,
        "min_replicas": 1,
        "max_replicas": 2,
        "target_queue_depth": 4,
        "capacity_type": "on-demand",
    }
