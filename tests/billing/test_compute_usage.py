"""The pure part of the chargeback: samples -> GPU-seconds, attribution, price segments, idle."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from billing.services import PriceTable, split_windows
from billing.services.usage import (
    ClusterLabels,
    Measurements,
    Offering,
    attribute,
    compute_usage,
    node_capacity_type,
)

pytestmark = pytest.mark.dates

H0 = datetime(2026, 11, 3, 10, tzinfo=UTC)


def _prices(change=None):
    rates = {
        ("g6.12xlarge", "on-demand"): [(datetime(2020, 1, 1, tzinfo=UTC), Decimal("4.80"))],
        ("g6e.xlarge", "spot"): [(datetime(2020, 1, 1, tzinfo=UTC), Decimal("0.72"))],
    }
    if change:
        rates[("g6.12xlarge", "on-demand")].append((change, Decimal("9.60")))
    return PriceTable(
        {
            "g6.12xlarge": Offering("g6.12xlarge", 4, "L4"),
            "g6e.xlarge": Offering("g6e.xlarge", 1, "L40S"),
        },
        rates,
    )


def _labels():
    return ClusterLabels(
        pods={
            ("ns-a", "p1"): {
                "label_modelport_io_team": "alpha",
                "label_modelport_io_endpoint": "chat",
            },
            ("ns-b", "p2"): {"label_serving_kserve_io_inferenceservice": "qwen"},
        },
        namespaces={"ns-b": "beta", "ns-c": ""},
        nodes={
            "n4": ("g6.12xlarge", "on-demand"),
            "n1": ("g6e.xlarge", "spot"),
            "nx": ("x9.mystery", "spot"),
        },
    )


def test_attribution_falls_back_from_pod_to_namespace_label_to_namespace_name():
    labels = _labels()
    assert attribute("ns-a", "p1", labels) == ("alpha", "chat")
    assert attribute("ns-b", "p2", labels) == ("beta", "qwen")  # isvc label when no endpoint label
    assert attribute("ns-c", "p3", labels) == ("ns-c", "")  # nothing: the namespace is the team


def test_capacity_type_from_karpenter_then_eks_labels():
    assert node_capacity_type({"label_karpenter_sh_capacity_type": "spot"}) == "spot"
    assert node_capacity_type({"label_eks_amazonaws_com_capacityType": "ON_DEMAND"}) == "on-demand"
    assert node_capacity_type({}) == "unknown"


def test_gpu_seconds_are_priced_per_gpu_with_idle():
    windows = split_windows(H0, H0 + timedelta(hours=1))
    m = Measurements(
        pods={
            ("ns-a", "p1", "n4"): 7200.0,
            ("ns-b", "p2", "n4"): 1800.0,
        },  # 2 GPUs × 1 h; 1 × 30 min
        nodes={"n4": 14400.0},
        busy={("ns-a", "p1"): 1800.0},
        prompt_tokens={("ns-a", "p1"): 1000.4},
    )
    rows = {(r.kind, r.team_key): r for r in compute_usage(windows, [m], _labels(), _prices())}
    alpha = rows[("allocated", "alpha")]
    assert alpha.gpu_seconds == 7200 and alpha.cost == Decimal("2.4")  # 2 GPU-h × 4.80/4
    assert alpha.used_gpu_seconds == 1800 and alpha.prompt_tokens == 1000 and alpha.gpu_type == "L4"
    assert (
        rows[("allocated", "beta")].gpu_seconds == 1800
        and rows[("allocated", "beta")].used_gpu_seconds is None
    )
    idle = rows[("idle", "")]
    assert idle.gpu_seconds == 4 * 3600 - 7200 - 1800 and idle.cost == Decimal(
        "1.8"
    )  # 1.5 GPU-h × 1.20


def test_a_price_change_inside_the_hour_splits_the_cost():
    change = H0 + timedelta(minutes=15)
    windows = split_windows(H0, H0 + timedelta(hours=1))
    m = Measurements(
        pods={("ns-a", "p1", "n4"): 3600.0},
        nodes={"n4": 3600.0},
        cuts=[(change, {("ns-a", "p1", "n4"): 900.0}, {"n4": 900.0})],
    )
    (row,) = compute_usage(windows, [m], _labels(), _prices(change))
    assert row.gpu_seconds == 3600
    assert (
        row.cost == Decimal("4.80") / 4 / 4 + Decimal("9.60") / 4 * 3 / 4
    )  # 15 min old, 45 min new price


def test_unknown_offerings_are_counted_not_priced():
    windows = split_windows(H0, H0 + timedelta(hours=1))
    m = Measurements(
        pods={("ns-a", "p1", "nx"): 3600.0, ("ns-a", "p1", "gone"): 3600.0}, nodes={"nx": 7200.0}
    )
    rows = compute_usage(windows, [m], _labels(), _prices())
    by = {(r.kind, r.instance_type): r for r in rows}
    assert by[("allocated", "x9.mystery")].unpriced_gpu_seconds == 3600
    assert by[("allocated", "unknown")].unpriced_gpu_seconds == 3600  # node without labels
    assert all(r.cost == 0 for r in rows)
    assert by[("idle", "x9.mystery")].unpriced_gpu_seconds == 3600


def test_partial_windows_belong_to_their_hour():
    windows = split_windows(H0 + timedelta(minutes=30), H0 + timedelta(hours=1, minutes=10))
    assert [(w.hour, w.seconds) for w in windows] == [
        (H0, 1800.0),
        (H0 + timedelta(hours=1), 600.0),
    ]


def test_cost_is_exact_even_on_a_rounding_tie():
    # 1,980 GPU-s at 13.35/h per 8-GPU node is exactly 0.9178125: priced with one division, not
    # through a rounded per-second rate (0.9178125000…0001, which a stored row rounded up).
    prices = PriceTable(
        {"g6.48xlarge": Offering("g6.48xlarge", 8, "L4")},
        {("g6.48xlarge", "on-demand"): [(datetime(2020, 1, 1, tzinfo=UTC), Decimal("13.35"))]},
    )
    labels = ClusterLabels(nodes={"n8": ("g6.48xlarge", "on-demand")})
    m = Measurements(pods={("ns-a", "p1", "n8"): 1980.0})
    (row,) = compute_usage(split_windows(H0, H0 + timedelta(hours=1)), [m], labels, prices)
    assert row.gpu_seconds == 1980 and row.cost == Decimal("0.9178125")


def test_remote_read_keeps_every_label_the_series_keys_read():
    """The gauges' series come from remote read with only fetch._KEY_LABELS decoded: every key
    must give the same answer on those labels as on the whole label set."""
    from billing.services.usage import fetch

    names = [
        "__name__", "namespace", "pod", "node", "exported_namespace", "exported_pod",
        "container", "uid", "resource", "unit", "instance", "job", "gpu", "UUID", "Hostname",
        "modelName", "device", "pci_bus_id", "exported_container", "exported_node",
    ]  # fmt: skip
    for present in ([*names], [n for n in names if not n.startswith("exported_")]):
        labels = {name: f"{name}-value" for name in present}
        kept = {k: v for k, v in labels.items() if k in fetch._KEY_LABELS}
        for key in fetch._KEYS.values():
            assert key(kept) == key(labels)


def test_billing_requests_run_on_threads_kept_per_process_and_setting(settings, monkeypatch):
    from billing.services.usage import fetch

    settings.BILLING_PROMETHEUS_CONCURRENCY = 3
    pool = fetch._requests_pool()
    assert fetch._requests_pool() is pool  # kept: no threads started per collection
    assert pool.submit(lambda: 7).result() == 7
    settings.BILLING_PROMETHEUS_CONCURRENCY = 2
    smaller = fetch._requests_pool()
    assert smaller is not pool and smaller._max_workers == 2
    with pytest.raises(RuntimeError):  # the old one was shut down
        pool.submit(lambda: 0)
    monkeypatch.setattr(fetch.os, "getpid", lambda: -1)  # a forked worker
    assert fetch._requests_pool() is not smaller
