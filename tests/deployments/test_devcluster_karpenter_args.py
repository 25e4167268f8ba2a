"""`manage.py devcluster` and Karpenter: off, on if built, or required; the KWOK provider
launches the catalog's instance types (the file it is given)."""

import json

import pytest
from django.core.management.base import CommandError

from deployments.management.commands.devcluster import karpenter_args
from deployments.nodepools.manifests import kwok_instance_types
from tests.factories import GpuRateFactory, InstanceOfferingFactory


@pytest.fixture
def offering(db):
    offering = InstanceOfferingFactory(
        instance_type="g6e.xlarge", gpus_per_node=1, vcpus=4, memory_gib=32
    )
    GpuRateFactory(offering=offering, capacity_type="on-demand")
    return offering


def test_no_karpenter_is_passed_through(db):
    assert karpenter_args(False, None) == ["--no-karpenter"]


def test_by_default_karpenter_launches_the_catalogs_instance_types_if_built(offering, tmp_path):
    argv = karpenter_args(None, str(tmp_path))
    assert argv == ["--karpenter-instance-types", str(tmp_path / "karpenter-instance-types.json")]
    types = json.loads((tmp_path / "karpenter-instance-types.json").read_text())
    assert types == json.loads(json.dumps(kwok_instance_types()))
    assert [t["name"] for t in types] == ["g6e.xlarge"]
    assert types[0]["resources"]["nvidia.com/gpu"] == "1"


def test_asked_for_karpenter_is_required(offering, tmp_path):
    assert karpenter_args(True, str(tmp_path))[0] == "--karpenter"


def test_an_empty_catalog_leaves_the_providers_own_types(db, tmp_path):
    assert karpenter_args(None, str(tmp_path)) == []
    assert not (tmp_path / "karpenter-instance-types.json").exists()


def test_a_catalog_karpenter_cannot_launch_turns_it_off_or_fails_when_required(offering, tmp_path):
    unsized = InstanceOfferingFactory(instance_type="g6e.2xlarge", gpus_per_node=1)
    GpuRateFactory(offering=unsized, capacity_type="on-demand")
    assert karpenter_args(None, str(tmp_path)) == ["--no-karpenter"]
    with pytest.raises(CommandError, match="no vCPUs/memory"):
        karpenter_args(True, str(tmp_path))
