"""Moving the catalog out of deployments and billing keeps every row and every foreign key."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

BEFORE = [
    ("deployments", "0002_initial"),
    ("billing", "0003_billingpolicy_referenceprice_chargeback_budgetalert_and_more"),
    ("portal", "0001_initial"),
    ("catalog", None),
]
AFTER = [("deployments", "0003_move_catalog"), ("portal", "0002_move_catalog")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    executor = MigrationExecutor(connection)  # reload what is applied now
    return executor.loader.project_state([t for t in targets if t[1] is not None]).apps


@pytest.mark.django_db(transaction=True)
def test_rows_and_foreign_keys_survive_the_move_and_the_way_back():
    old = _migrate(BEFORE)
    GpuType = old.get_model("deployments", "GpuType")
    Offering = old.get_model("deployments", "InstanceOffering")
    Model = old.get_model("deployments", "CatalogModel")
    Rate = old.get_model("billing", "GpuRate")
    Team = old.get_model("portal", "Team")
    Endpoint = old.get_model("deployments", "Endpoint")
    gpu = GpuType.objects.create(name="L4", memory_gib=24)
    offering = Offering.objects.create(gpu_type=gpu, instance_type="g6.xlarge", gpus_per_node=1)
    Rate.objects.create(offering=offering, capacity_type="spot", hourly_price=Decimal("0.3200"))
    model = Model.objects.create(
        name="Tiny",
        slug="tiny",
        storage_uri="hf://org/tiny",
        parameters_b=1,
        num_layers=2,
        num_kv_heads=2,
        head_dim=64,
        native_context_length=4096,
        allowed_quantizations=["bf16"],
    )
    team = Team.objects.create(name="A", slug="a")
    team.approval_gpu_types.add(gpu)
    Endpoint.objects.create(
        team=team,
        name="e",
        model=model,
        gpu_type=gpu,
        offering=offering,
        quantization="bf16",
        max_context_length=4096,
    )

    new = _migrate(AFTER)
    rate = new.get_model("catalog", "GpuRate").objects.select_related("offering__gpu_type").get()
    assert (rate.offering.instance_type, rate.offering.gpu_type.name) == ("g6.xlarge", "L4")
    assert rate.hourly_price == Decimal("0.3200")
    ep = new.get_model("deployments", "Endpoint").objects.select_related("model", "offering").get()
    assert (ep.model.slug, ep.offering.instance_type, ep.gpu_type_id) == (
        "tiny",
        "g6.xlarge",
        gpu.pk,
    )
    assert list(new.get_model("portal", "Team").objects.get().approval_gpu_types.all()) == [
        new.get_model("catalog", "GpuType").objects.get()
    ]
    with pytest.raises(IntegrityError), transaction.atomic():  # the database still enforces it
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM catalog_gputype")

    back = _migrate(BEFORE)
    assert back.get_model("billing", "GpuRate").objects.get().offering.gpu_type.name == "L4"
    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
