"""The GPU NodePools, NodeClass and KWOK instance types rendered from the catalog."""

import io
import json
from decimal import Decimal

import pytest
import yaml
from django.core.management import CommandError, call_command

from deployments.nodepools import manifests
from tests.factories import GpuRateFactory, GpuTypeFactory, InstanceOfferingFactory


@pytest.fixture
def catalog(db):
    l40s = GpuTypeFactory(name="L40S", node_label_value="l40s", max_gpus_per_pool=6)
    small = InstanceOfferingFactory(
        gpu_type=l40s, instance_type="g6e.xlarge", gpus_per_node=1, vcpus=4, memory_gib=32
    )
    big = InstanceOfferingFactory(
        gpu_type=l40s, instance_type="g6e.12xlarge", gpus_per_node=4, vcpus=48, memory_gib=384
    )
    GpuRateFactory(offering=small, capacity_type="on-demand", hourly_price=Decimal("1.8610"))
    GpuRateFactory(offering=small, capacity_type="spot", hourly_price=Decimal("0.7444"))
    GpuRateFactory(offering=small, capacity_type="reserved", hourly_price=Decimal("1.1538"))
    GpuRateFactory(offering=big, capacity_type="on-demand", hourly_price=Decimal("10.4926"))
    l4 = GpuTypeFactory(name="L4", node_label_value="l4", max_gpus_per_pool=16)
    g6 = InstanceOfferingFactory(
        gpu_type=l4,
        instance_type="g6.xlarge",
        gpus_per_node=1,
        vcpus=4,
        memory_gib=16,
        node_labels={"example.com/tier": "gpu"},
    )
    GpuRateFactory(offering=g6, capacity_type="spot", hourly_price=Decimal("0.3219"))
    off = InstanceOfferingFactory(gpu_type=l4, instance_type="g6.2xlarge", enabled=False)
    GpuRateFactory(offering=off, capacity_type="spot")
    return {"l40s": l40s, "l4": l4}


def _by_name(objects):
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == "NodePool"}


def test_one_pool_per_family_and_capacity_type_with_the_catalogs_instance_types(catalog):
    pools = _by_name(manifests.render())

    assert sorted(pools) == [
        "modelport-gpu-g6-spot",
        "modelport-gpu-g6e-on-demand",
        "modelport-gpu-g6e-spot",
    ]  # no reserved pool, nothing of the disabled offering
    reqs = {
        r["key"]: r["values"]
        for r in pools["modelport-gpu-g6e-on-demand"]["spec"]["template"]["spec"]["requirements"]
    }
    assert reqs["node.kubernetes.io/instance-type"] == ["g6e.12xlarge", "g6e.xlarge"]
    assert reqs["karpenter.sh/capacity-type"] == ["on-demand"]
    assert reqs["karpenter.k8s.aws/instance-gpu-name"] == ["l40s"]
    spot = {
        r["key"]: r["values"]
        for r in pools["modelport-gpu-g6e-spot"]["spec"]["template"]["spec"]["requirements"]
    }
    assert spot["node.kubernetes.io/instance-type"] == ["g6e.xlarge"]  # only it has a spot price
    g6 = {
        r["key"]: r["values"]
        for r in pools["modelport-gpu-g6-spot"]["spec"]["template"]["spec"]["requirements"]
    }
    assert g6["example.com/tier"] == ["gpu"]  # the offering's extra labels


def test_pools_are_tainted_limited_by_the_gpu_ceiling_and_never_consolidate_a_busy_node(catalog):
    pool = _by_name(manifests.render())["modelport-gpu-g6e-spot"]
    spec = pool["spec"]

    assert spec["template"]["spec"]["taints"] == [
        {"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}
    ]
    assert spec["limits"] == {"nvidia.com/gpu": "6"}
    assert spec["disruption"]["consolidationPolicy"] == "WhenEmpty"
    assert spec["disruption"]["budgets"] == [{"nodes": "1"}]
    assert spec["template"]["spec"]["expireAfter"] == "Never"
    assert spec["template"]["spec"]["terminationGracePeriod"] == "90s"  # inside spot's notice
    assert (
        spec["weight"]
        > _by_name(manifests.render())["modelport-gpu-g6e-on-demand"]["spec"]["weight"]
    )  # spot first
    assert pool["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "modelport"


def test_the_node_class_is_aws_ec2_by_default_and_kwok_when_configured(catalog, settings):
    settings.KARPENTER_NODE_ROLE = "KarpenterNodeRole-prod"
    ec2 = manifests.render()[0]
    assert (ec2["apiVersion"], ec2["kind"]) == ("karpenter.k8s.aws/v1", "EC2NodeClass")
    assert ec2["spec"]["role"] == "KarpenterNodeRole-prod"
    assert ec2["spec"]["amiSelectorTerms"] == [{"alias": "al2023@latest"}]
    ref = _by_name(manifests.render())["modelport-gpu-g6-spot"]["spec"]["template"]["spec"][
        "nodeClassRef"
    ]
    assert ref == {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "modelport-gpu"}

    settings.KARPENTER_NODE_CLASS = "kwok"
    kwok = manifests.render()[0]
    assert (kwok["apiVersion"], kwok["kind"]) == ("karpenter.kwok.sh/v1alpha1", "KWOKNodeClass")
    ref = _by_name(manifests.render())["modelport-gpu-g6-spot"]["spec"]["template"]["spec"][
        "nodeClassRef"
    ]
    assert ref["kind"] == "KWOKNodeClass"


def test_render_nodepools_prints_exactly_what_the_worker_applies(catalog):
    out = io.StringIO()
    call_command("render_nodepools", stdout=out)

    assert list(yaml.safe_load_all(out.getvalue())) == manifests.render()


def test_kwok_instance_types_carry_the_catalogs_gpus_shapes_and_prices(catalog):
    out = io.StringIO()
    call_command("karpenter_instance_types", stdout=out)
    types = {t["name"]: t for t in json.loads(out.getvalue())}

    assert sorted(types) == ["g6.xlarge", "g6e.12xlarge", "g6e.xlarge"]
    small = types["g6e.xlarge"]
    assert small["resources"]["nvidia.com/gpu"] == "1"
    assert small["resources"]["cpu"] == "4"
    assert small["resources"]["memory"] == "32Gi"
    prices = {
        o["Requirements"][0]["values"][0]: o["Price"] for o in small["offerings"]
    }  # capacity type -> price
    assert prices == {"on-demand": 1.861, "spot": 0.7444}
    assert types["g6e.12xlarge"]["resources"]["nvidia.com/gpu"] == "4"


def test_an_offering_without_a_shape_is_refused_by_name(catalog):
    offering = InstanceOfferingFactory(gpu_type=catalog["l4"], instance_type="g6.4xlarge")
    GpuRateFactory(offering=offering, capacity_type="spot")

    with pytest.raises(CommandError, match="g6.4xlarge has no vCPUs/memory"):
        call_command("karpenter_instance_types", stdout=io.StringIO())


def test_a_family_that_makes_no_valid_pool_name_is_refused(db):
    gpu = GpuTypeFactory()
    offering = InstanceOfferingFactory(
        gpu_type=gpu, instance_type="G6_X.large", vcpus=4, memory_gib=16
    )
    GpuRateFactory(offering=offering, capacity_type="spot")

    with pytest.raises(CommandError, match="does not make a valid NodePool name"):
        call_command("render_nodepools", stdout=io.StringIO())
