"""The price table: history (a change applies from its effective time), per-GPU rates, the
`--prices` file format with clear errors."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from billing.services import ChargebackError, PriceTable, load_price_file
from tests.factories import GpuRateFactory, InstanceOfferingFactory

pytestmark = pytest.mark.dates

T0 = datetime(2026, 11, 1, tzinfo=UTC)
T1 = datetime(2026, 11, 10, 12, 30, tzinfo=UTC)


@pytest.mark.django_db
def test_db_table_keeps_history():
    offering = InstanceOfferingFactory(instance_type="g6.12xlarge", gpus_per_node=4)
    GpuRateFactory(
        offering=offering,
        capacity_type="on-demand",
        hourly_price=Decimal("4.6000"),
        effective_from=T0,
    )
    GpuRateFactory(
        offering=offering,
        capacity_type="on-demand",
        hourly_price=Decimal("5.2000"),
        effective_from=T1,
    )
    table = PriceTable.from_db()
    assert table.node_price("g6.12xlarge", "on-demand", T0.replace(day=5)) == Decimal("4.6")
    assert table.node_price("g6.12xlarge", "on-demand", T1) == Decimal(
        "5.2"
    )  # from its effective time
    assert (
        table.node_price("g6.12xlarge", "on-demand", T0.replace(month=10)) is None
    )  # before any price
    assert table.node_price_per_gpu("g6.12xlarge", "on-demand", T1) == (Decimal("5.2"), 4)
    assert table.node_price_per_gpu("g6.12xlarge", "spot", T1) is None
    assert table.node_price_per_gpu("x9.mystery", "on-demand", T1) is None
    assert table.change_points(T0, T0.replace(month=12)) == [T1]  # T0 itself is not inside


def test_prices_file_entries():
    table = PriceTable.from_entries(
        [
            {
                "instance_type": "g6e.xlarge",
                "capacity_type": "spot",
                "gpus_per_node": 1,
                "hourly_price": "0.74",
            },
            {
                "instance_type": "g6e.xlarge",
                "capacity_type": "on-demand",
                "gpus_per_node": 1,
                "hourly_price": 1.861,
            },
        ]
    )
    assert table.node_price("g6e.xlarge", "on-demand", T1) == Decimal("1.861")  # no float noise
    assert table.change_points(T0, T1) == []


@pytest.mark.parametrize(
    "entries, message",
    [
        ([], "non-empty JSON list"),
        ({"instance_type": "a"}, "non-empty JSON list"),
        (["g6"], "must be an object"),
        (
            [{"instance_type": "g6", "capacity_type": "spot", "gpus_per_node": 1}],
            "lacks hourly_price",
        ),
        (
            [{"instance_type": "", "capacity_type": "spot", "gpus_per_node": 1, "hourly_price": 1}],
            "non-empty string",
        ),
        (
            [
                {
                    "instance_type": "g6",
                    "capacity_type": "cheap",
                    "gpus_per_node": 1,
                    "hourly_price": 1,
                }
            ],
            "capacity_type",
        ),
        (
            [
                {
                    "instance_type": "g6",
                    "capacity_type": "spot",
                    "gpus_per_node": 1.5,
                    "hourly_price": 1,
                }
            ],
            "positive integer",
        ),
        (
            [
                {
                    "instance_type": "g6",
                    "capacity_type": "spot",
                    "gpus_per_node": True,
                    "hourly_price": 1,
                }
            ],
            "positive integer",
        ),
        (
            [
                {
                    "instance_type": "g6",
                    "capacity_type": "spot",
                    "gpus_per_node": 1,
                    "hourly_price": "abc",
                }
            ],
            "not a number",
        ),
        (
            [
                {
                    "instance_type": "g6",
                    "capacity_type": "spot",
                    "gpus_per_node": 1,
                    "hourly_price": "-1",
                }
            ],
            "≥ 0",
        ),
        (
            [
                {
                    "instance_type": "g6",
                    "capacity_type": "spot",
                    "gpus_per_node": 1,
                    "hourly_price": "NaN",
                }
            ],
            "finite",
        ),
        (
            [
                {
                    "instance_type": "g6",
                    "capacity_type": "spot",
                    "gpus_per_node": 1,
                    "hourly_price": 1,
                }
            ]
            * 2,
            "listed twice",
        ),
        (
            [
                {
                    "instance_type": "g6",
                    "capacity_type": "spot",
                    "gpus_per_node": 1,
                    "hourly_price": 1,
                },
                {
                    "instance_type": "g6",
                    "capacity_type": "on-demand",
                    "gpus_per_node": 2,
                    "hourly_price": 1,
                },
            ],
            "two different gpus_per_node",
        ),
    ],
)
def test_bad_entries_are_refused_clearly(entries, message):
    with pytest.raises(ChargebackError, match=message):
        PriceTable.from_entries(entries)


def test_price_file_errors(tmp_path):
    with pytest.raises(ChargebackError, match="Cannot read the price file"):
        load_price_file(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("[{")
    with pytest.raises(ChargebackError, match="not valid JSON"):
        load_price_file(str(bad))


@pytest.mark.django_db
def test_db_table_holds_offerings_without_a_rate_in_one_statement(django_assert_num_queries):
    priced = InstanceOfferingFactory(instance_type="p5.48xlarge", gpus_per_node=8)
    InstanceOfferingFactory(instance_type="g6e.xlarge", gpus_per_node=1)
    for capacity_type in ("on-demand", "spot"):
        GpuRateFactory(
            offering=priced,
            capacity_type=capacity_type,
            hourly_price=Decimal("9"),
            effective_from=T0,
        )
    with django_assert_num_queries(1):
        table = PriceTable.from_db()
    assert set(table.offerings) == {"p5.48xlarge", "g6e.xlarge"}
    assert table.offerings["g6e.xlarge"].gpus_per_node == 1
    assert table.offerings["p5.48xlarge"].gpu_type == priced.gpu_type.name
    assert sorted(table.rates) == [("p5.48xlarge", "on-demand"), ("p5.48xlarge", "spot")]
    assert table.node_price("g6e.xlarge", "spot", T1) is None


@pytest.mark.django_db
def test_db_table_reads_each_price_and_time_as_the_orm_reads_them():
    """The table is one written-out statement (billing/services/usage/_sql.py): every price and
    effective time comes back as a queryset gives it (Decimal places, aware times to the
    microsecond), on SQLite and PostgreSQL alike."""
    from catalog.models import GpuRate

    offering = InstanceOfferingFactory(instance_type="g6.48xlarge", gpus_per_node=8)
    for i, price in enumerate(("0.0001", "13.3500", "12345678.9999", "0")):
        GpuRateFactory(
            offering=offering,
            capacity_type="spot",
            hourly_price=Decimal(price),
            effective_from=T1.replace(microsecond=123456 + i, second=i),
        )
    table = PriceTable.from_db()
    orm = sorted(
        GpuRate.objects.filter(offering=offering).values_list("effective_from", "hourly_price")
    )
    assert table.rates[("g6.48xlarge", "spot")] == orm
    for (since, price), (orm_since, orm_price) in zip(
        table.rates[("g6.48xlarge", "spot")], orm, strict=True
    ):
        assert (str(price), since.tzinfo, since.microsecond) == (
            str(orm_price),
            orm_since.tzinfo,
            orm_since.microsecond,
        )
