"""Factories with valid, minimal defaults. They never touch the cluster."""

from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from catalog.choices import CapacityType
from catalog.models import CatalogModel, GpuRate, GpuType, InstanceOffering
from deployments.batch.choices import BatchJobStatus
from deployments.batch.observe import new_shard
from deployments.endpoints.choices import EndpointStatus
from deployments.models import BatchJob, Endpoint, EndpointEvent
from portal.models import Membership, Team, User


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.django.Password("password")


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    name = factory.Sequence(lambda n: f"Team {n}")
    slug = factory.Sequence(lambda n: f"team{n}")
    max_gpus = 16


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    team = factory.SubFactory(TeamFactory)
    user = factory.SubFactory(UserFactory)
    role = Membership.Role.MEMBER


class GpuTypeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GpuType

    name = factory.Sequence(lambda n: f"GPU-{n}")
    memory_gib = Decimal("80")
    node_label_value = factory.LazyAttribute(lambda o: o.name.lower())


class InstanceOfferingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = InstanceOffering

    gpu_type = factory.SubFactory(GpuTypeFactory)
    instance_type = factory.Sequence(lambda n: f"test{n}.xlarge")
    gpus_per_node = 1


class GpuRateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GpuRate

    offering = factory.SubFactory(InstanceOfferingFactory)
    capacity_type = CapacityType.ON_DEMAND
    hourly_price = Decimal("2.0000")
    effective_from = factory.LazyFunction(lambda: timezone.now() - timedelta(days=400))


class CatalogModelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CatalogModel

    name = factory.Sequence(lambda n: f"Llama Test {n}")
    slug = factory.Sequence(lambda n: f"llama-test-{n}")
    storage_uri = "hf://meta-llama/Llama-3.1-8B-Instruct"
    parameters_b = Decimal("8.03")
    num_layers = 32
    num_kv_heads = 8
    num_attention_heads = 32
    head_dim = 128
    native_context_length = 131072
    allowed_quantizations = ["bf16", "fp8"]
    license = "llama3.1"


class EndpointFactory(factory.django.DjangoModelFactory):
    """An approved endpoint on a priced 1-GPU offering (status defaults to Ready)."""

    class Meta:
        model = Endpoint

    team = factory.SubFactory(TeamFactory)
    name = factory.Sequence(lambda n: f"ep-{n}")
    model = factory.SubFactory(CatalogModelFactory)
    gpu_type = factory.SubFactory(GpuTypeFactory)
    offering = factory.SubFactory(
        InstanceOfferingFactory, gpu_type=factory.SelfAttribute("..gpu_type")
    )
    gpu_count = 1
    quantization = "bf16"
    max_context_length = 8192
    min_replicas = 1
    max_replicas = 2
    target_queue_depth = 4
    capacity_type = CapacityType.ON_DEMAND
    status = EndpointStatus.READY
    generation = 1
    applied_generation = 1
    monthly_cost_min = Decimal("1460.00")
    monthly_cost_max = Decimal("2920.00")
    requested_by = factory.SubFactory(UserFactory)
    status_changed_at = factory.LazyFunction(timezone.now)


class BatchJobFactory(factory.django.DjangoModelFactory):
    """An approved, not yet applied 2-shard spot batch job (no cluster call: rows only)."""

    class Meta:
        model = BatchJob

    team = factory.SubFactory(TeamFactory)
    name = factory.Sequence(lambda n: f"batch-{n}")
    model = factory.SubFactory(CatalogModelFactory)
    gpu_type = factory.SubFactory(GpuTypeFactory)
    offering = factory.SubFactory(
        InstanceOfferingFactory, gpu_type=factory.SelfAttribute("..gpu_type")
    )
    quantization = "bf16"
    gpu_count = 1
    capacity_type = CapacityType.SPOT
    input_uri = "s3://acme-data/batches/in.jsonl"
    output_uri = "s3://acme-data/batches/out"
    shards = 2
    parallelism = 2
    status = BatchJobStatus.APPROVED
    run_shards = factory.LazyAttribute(lambda o: list(range(o.shards)))
    shard_states = factory.LazyAttribute(lambda o: [new_shard() for _ in range(o.shards)])
    requested_by = factory.SubFactory(UserFactory)


class EndpointEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EndpointEvent

    endpoint = factory.SubFactory(EndpointFactory)
    kind = "info"
    message = "Something happened."


class UsageRecordFactory(factory.django.DjangoModelFactory):
    """One priced hour of one GPU for a team's endpoint (on-demand g6.xlarge at 0.80/h)."""

    class Meta:
        model = "billing.UsageRecord"

    hour = factory.LazyFunction(
        lambda: timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    )
    kind = "allocated"
    team = factory.SubFactory(TeamFactory)
    team_key = factory.LazyAttribute(lambda o: o.team.slug if o.team else "")
    endpoint = None
    endpoint_key = "chat"
    instance_type = "g6.xlarge"
    capacity_type = CapacityType.ON_DEMAND
    gpu_type = "L4"
    gpu_seconds = 3600
    cost = Decimal("0.800000")
