from django.core.management import call_command

from catalog.models import CatalogModel, GpuRate, GpuType, InstanceOffering
from deployments.endpoints.choices import EndpointStatus
from deployments.models import Endpoint
from portal.models import Membership, User


def test_seed_catalog_creates_gpus_offerings_prices_and_models(db):
    call_command("seed_catalog")
    assert set(GpuType.objects.values_list("name", flat=True)) == {
        "L4",
        "A10G",
        "L40S",
        "A100-40GB",
        "A100-80GB",
        "H100",
        "H200",
    }
    assert GpuType.objects.get(name="H200").memory_gib == 141
    p5 = InstanceOffering.objects.get(instance_type="p5.48xlarge")
    assert p5.gpus_per_node == 8 and p5.gpu_type.name == "H100"
    on_demand = GpuRate.objects.get(offering=p5, capacity_type="on-demand").hourly_price
    spot = GpuRate.objects.get(offering=p5, capacity_type="spot").hourly_price
    assert spot < on_demand
    llama70 = CatalogModel.objects.get(slug="llama-3-1-70b-instruct")
    assert (llama70.num_layers, llama70.num_kv_heads, llama70.head_dim) == (80, 8, 128)


def test_seed_catalog_twice_creates_nothing_new_and_keeps_admin_edits(db):
    call_command("seed_catalog")
    GpuType.objects.filter(name="L4").update(enabled=False)
    counts = (
        GpuType.objects.count(),
        InstanceOffering.objects.count(),
        GpuRate.objects.count(),
        CatalogModel.objects.count(),
    )
    call_command("seed_catalog")
    assert counts == (
        GpuType.objects.count(),
        InstanceOffering.objects.count(),
        GpuRate.objects.count(),
        CatalogModel.objects.count(),
    )
    assert GpuType.objects.get(name="L4").enabled is False


def test_seed_demo_is_idempotent_and_prints_a_login(db, capsys, settings):
    settings.KUBECONFIG = "/nonexistent/kubeconfig"  # a cluster: the sample statuses stay
    call_command("seed_demo")
    assert "demo / demo" in capsys.readouterr().out
    counts = (User.objects.count(), Membership.objects.count(), Endpoint.objects.count())
    call_command("seed_demo")
    assert counts == (User.objects.count(), Membership.objects.count(), Endpoint.objects.count())
    assert User.objects.get(username="demo").check_password("demo")
    statuses = set(Endpoint.objects.values_list("status", flat=True))
    assert {
        EndpointStatus.READY,
        EndpointStatus.PENDING_APPROVAL,
        EndpointStatus.FAILED,
    } <= statuses
    assert all(ep.events.exists() for ep in Endpoint.objects.all())


def test_seed_demo_without_a_cluster_claims_nothing_serves_and_marks_its_sample_history(
    db, settings
):
    settings.KUBECONFIG, settings.KUBE_IN_CLUSTER = "", False
    call_command("seed_demo")
    statuses = set(Endpoint.objects.values_list("status", flat=True))
    assert not statuses & {
        EndpointStatus.READY,
        EndpointStatus.PROVISIONING,
        EndpointStatus.APPLYING,
        EndpointStatus.FAILED,
    }
    assert EndpointStatus.NOT_DEPLOYED in statuses
    assert not Endpoint.objects.exclude(url="").exists()
    assert not Endpoint.objects.filter(ready_at__isnull=False).exists()
    waiting = Endpoint.objects.get(name="query-rewriter")
    assert waiting.applied_generation == 0  # a cluster connected later applies it
    events = list(waiting.events.order_by("created_at"))
    assert all(e.message.startswith("Sample history") for e in events[:-1])
    assert events[-1].new_status == EndpointStatus.NOT_DEPLOYED
    assert "no cluster connected" in events[-1].message
