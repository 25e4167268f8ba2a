"""The price table of a collection: node prices per offering with history, GPUs per node."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from catalog.choices import CapacityType
from catalog.models import GpuRate, GpuType, InstanceOffering
from catalog.pricing import in_force

from ._base import ChargebackError
from ._sql import column, field, select, table


@dataclass(frozen=True)
class Offering:
    instance_type: str
    gpus_per_node: int
    gpu_type: str = ""


class PriceTable:
    """Node prices per (instance type, capacity type) with history, and GPUs per node.

    ``rates[(instance_type, capacity_type)]`` is a list of ``(effective_from, node_hourly_price)``
    sorted by time; the rate in force at ``t`` is the last one with ``effective_from <= t``.
    """

    def __init__(
        self,
        offerings: dict[str, Offering],
        rates: dict[tuple[str, str], list[tuple[datetime, Decimal]]],
    ):
        self.offerings = offerings
        self.rates = {key: sorted(history) for key, history in rates.items()}

    @classmethod
    def from_db(cls) -> PriceTable:
        """Every offering with its rates, in one written-out statement (``_sql``: the hourly
        task reads it every time; an offering without a rate comes once, with no rate)."""
        offerings: dict[str, Offering] = {}
        rates: dict[tuple[str, str], list[tuple[datetime, Decimal]]] = defaultdict(list)
        o, g, r = InstanceOffering, GpuType, GpuRate
        columns = [
            (o, "o", "instance_type"),
            (o, "o", "gpus_per_node"),
            (g, "g", "name"),
            (r, "r", "capacity_type"),
            (r, "r", "hourly_price"),
            (r, "r", "effective_from"),
        ]
        sql = (
            f"SELECT {', '.join(f'{a}.{column(m, name)}' for m, a, name in columns)} "
            f"FROM {table(o)} o "
            f"INNER JOIN {table(g)} g ON g.{column(g, 'pk')} = o.{column(o, 'gpu_type')} "
            f"LEFT OUTER JOIN {table(r)} r ON r.{column(r, 'offering')} = o.{column(o, 'pk')}"
        )
        for instance_type, gpus, gpu_type, capacity_type, price, since in select(
            sql, [], [field(m, name) for m, _, name in columns]
        ):
            offerings[instance_type] = Offering(instance_type, gpus, gpu_type)
            if since is not None:
                rates[(instance_type, capacity_type)].append((since, price))
        return cls(offerings, rates)

    @classmethod
    def from_entries(cls, entries: Any) -> PriceTable:
        """From ``[{"instance_type", "capacity_type", "gpus_per_node", "hourly_price"}]`` (one
        constant price per offering, e.g. ``chargeback --prices FILE``). Raises ChargebackError."""
        if not isinstance(entries, list) or not entries:
            raise ChargebackError("The price list must be a non-empty JSON list of objects.")
        offerings: dict[str, Offering] = {}
        rates: dict[tuple[str, str], list[tuple[datetime, Decimal]]] = {}
        since = datetime(1970, 1, 1, tzinfo=UTC)
        for i, entry in enumerate(entries):
            instance_type, capacity_type, gpus, price = _parse_price_entry(i, entry)
            known = offerings.get(instance_type)
            if known is not None and known.gpus_per_node != gpus:
                raise ChargebackError(
                    f"Price entry {i}: {instance_type} has two different gpus_per_node values."
                )
            if (instance_type, capacity_type) in rates:
                raise ChargebackError(
                    f"Price entry {i}: {instance_type} {capacity_type} is listed twice."
                )
            offerings[instance_type] = Offering(instance_type, gpus)
            rates[(instance_type, capacity_type)] = [(since, price)]
        return cls(offerings, rates)

    def node_price(self, instance_type: str, capacity_type: str, at: datetime) -> Decimal | None:
        return in_force(self.rates.get((instance_type, capacity_type), ()), at)

    def node_price_per_gpu(
        self, instance_type: str, capacity_type: str, at: datetime
    ) -> tuple[Decimal, int] | None:
        """(node hourly price, GPUs per node) at ``at``: GPU-seconds cost exactly
        ``price × seconds / (gpus × 3600)``, with a single division."""
        offering = self.offerings.get(instance_type)
        price = self.node_price(instance_type, capacity_type, at)
        if offering is None or price is None:
            return None
        return price, offering.gpus_per_node

    def gpu_type(self, instance_type: str) -> str:
        offering = self.offerings.get(instance_type)
        return offering.gpu_type if offering else ""

    def change_points(self, start: datetime, end: datetime) -> list[datetime]:
        """Times strictly inside (start, end) where any rate changes."""
        return sorted(
            {
                since
                for history in self.rates.values()
                for since, _ in history
                if start < since < end
            }
        )


def _parse_price_entry(i: int, entry: Any) -> tuple[str, str, int, Decimal]:
    required = ("instance_type", "capacity_type", "gpus_per_node", "hourly_price")
    if not isinstance(entry, dict):
        raise ChargebackError(f"Price entry {i} must be an object with keys {', '.join(required)}.")
    missing = [k for k in required if k not in entry]
    if missing:
        raise ChargebackError(f"Price entry {i} lacks {', '.join(missing)}.")
    instance_type, capacity_type = entry["instance_type"], entry["capacity_type"]
    if not isinstance(instance_type, str) or not instance_type.strip():
        raise ChargebackError(f"Price entry {i}: instance_type must be a non-empty string.")
    if capacity_type not in CapacityType.values:
        raise ChargebackError(
            f"Price entry {i}: capacity_type must be one of {', '.join(CapacityType.values)}, not {capacity_type!r}."
        )
    gpus = entry["gpus_per_node"]
    if isinstance(gpus, bool) or not isinstance(gpus, int) or gpus < 1:
        raise ChargebackError(
            f"Price entry {i}: gpus_per_node must be a positive integer, not {gpus!r}."
        )
    raw = entry["hourly_price"]
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        raise ChargebackError(f"Price entry {i}: hourly_price must be a decimal number or string.")
    try:
        price = Decimal(str(raw))
    except InvalidOperation as exc:
        raise ChargebackError(f"Price entry {i}: hourly_price {raw!r} is not a number.") from exc
    if not price.is_finite() or price < 0:
        raise ChargebackError(
            f"Price entry {i}: hourly_price must be a finite number ≥ 0, not {raw!r}."
        )
    return instance_type.strip(), capacity_type, gpus, price


def load_price_file(path: str) -> PriceTable:
    try:
        with open(path, encoding="utf-8") as f:
            entries = json.load(f)
    except OSError as exc:
        raise ChargebackError(f"Cannot read the price file {path}: {exc.strerror}.") from exc
    except json.JSONDecodeError as exc:
        raise ChargebackError(f"The price file {path} is not valid JSON: {exc}.") from exc
    return PriceTable.from_entries(entries)
