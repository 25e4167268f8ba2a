"""The data passed between fetching, computing and storing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

PodKey = tuple[str, str]  # (namespace, pod)


@dataclass
class Measurements:
    """GPU-seconds (value × span of each sample, see portal/gputime.py) and tokens of one window."""

    pods: dict[tuple[str, str, str], float] = field(default_factory=dict)  # (ns, pod, node)
    nodes: dict[str, float] = field(default_factory=dict)  # node capacity
    busy: dict[PodKey, float] = field(default_factory=dict)
    prompt_tokens: dict[PodKey, float] = field(default_factory=dict)
    generation_tokens: dict[PodKey, float] = field(default_factory=dict)
    # Cumulative (pods, nodes) from the window start up to each price change point inside it.
    cuts: list[tuple[datetime, dict, dict]] = field(default_factory=list)


@dataclass
class ClusterLabels:
    pods: dict[PodKey, dict[str, str]] = field(default_factory=dict)
    namespaces: dict[str, str] = field(default_factory=dict)  # namespace -> team label
    # node -> (instance type, capacity type)
    nodes: dict[str, tuple[str, str]] = field(default_factory=dict)


@dataclass
class UsageRow:
    """One usage row before it is stored (same field names as UsageRecord)."""

    hour: datetime
    kind: str
    team_key: str
    endpoint_key: str
    instance_type: str
    capacity_type: str
    gpu_type: str = ""
    gpu_seconds: int = 0
    used_gpu_seconds: int | None = None
    cost: Decimal = Decimal("0")
    unpriced_gpu_seconds: int = 0
    prompt_tokens: int = 0
    generation_tokens: int = 0
    endpoint_uuid: str = ""  # endpoint-uuid (or batch-job-uuid) pod label, when allow-listed

    @property
    def key(self) -> tuple:
        return (
            self.hour,
            self.kind,
            self.team_key,
            self.endpoint_key,
            self.instance_type,
            self.capacity_type,
        )
