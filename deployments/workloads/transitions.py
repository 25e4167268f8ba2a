"""A product's transition table: which status may follow which, and from which statuses a
person's action may start (STYLE §3b).

Each product declares one table next to its status choices (`deployments/<product>/choices.py`)
and its services check a person's action against it instead of testing statuses inline:

    TABLE.check_action("approve", endpoint.status, "Only pending requests can be approved.")

An action names the statuses it may start from and the statuses it may lead to; the table
refuses, when it is built, an action whose start cannot reach any of its targets (a table that
contradicts itself is a programming error, said at import).

A workload's `status` is set in one place, `TransitionTable.move` (a person's action, a new
request, an apply or a sync alike): a move the table does not allow raises InvalidTransition.
What the cluster reports is checked by `TransitionTable.admits` before anything is written: an
illegal transition (a deleted endpoint reported Ready again) is logged and refused, never
written; the caller skips the write, as it skips one superseded by a newer generation.
"""

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from deployments.workloads.errors import InvalidTransition

log = logging.getLogger(__name__)


class TransitionTable:
    def __init__(
        self,
        table: Mapping[str, Iterable[str]],
        actions: Mapping[str, tuple[Iterable[str], Iterable[str]]] | None = None,
    ):
        self._next = {str(old): frozenset(str(new) for new in news) for old, news in table.items()}
        self._actions = {
            name: (frozenset(str(s) for s in starts), frozenset(str(t) for t in targets))
            for name, (starts, targets) in (actions or {}).items()
        }
        for name, (starts, targets) in self._actions.items():
            for start in starts:
                if start not in self._next:
                    raise ValueError(f"action {name!r} starts from {start!r}, not in the table")
                if not any(self.allows(start, target) for target in targets):
                    raise ValueError(
                        f"action {name!r} starts from {start!r}, which may not move to any of "
                        f"{sorted(targets)} in the table"
                    )

    @property
    def statuses(self) -> frozenset[str]:
        return frozenset(self._next)

    @property
    def actions(self) -> frozenset[str]:
        return frozenset(self._actions)

    def allows(self, old: str, new: str) -> bool:
        """True when `new` may follow `old` (staying in the same status always may)."""
        return old == new or new in self._next.get(str(old), ())

    def sources(self, new: str) -> frozenset[str]:
        """The statuses `new` may follow (e.g. the ones an approval starts from)."""
        return frozenset(old for old, news in self._next.items() if new in news)

    def check(self, old: str, new: str, message: str) -> None:
        """Raise InvalidTransition(message) unless a person's action may move `old` to `new`:
        an action must change the status (approving an approved route is refused)."""
        if old == new or not self.allows(old, new):
            raise InvalidTransition(message)

    def starts(self, action: str) -> frozenset[str]:
        """The statuses `action` may start from (KeyError for an undeclared action)."""
        return self._actions[action][0]

    def may(self, action: str, status: str) -> bool:
        """True when a person's `action` may start from `status`."""
        return str(status) in self.starts(action)

    def check_action(self, action: str, status: str, message: str) -> None:
        """Raise InvalidTransition(message) unless `action` may start from `status`."""
        if not self.may(action, status):
            raise InvalidTransition(message)

    def admits(self, kind: str, workload: Any, new: str) -> bool:
        """The gate for what the cluster reports: True when `workload.status` may become `new`;
        otherwise log the refusal (`<kind>=<pk> ...`) and return False: write nothing."""
        if self.allows(workload.status, new):
            return True
        log.warning(
            "%s=%s generation=%s refused transition %s -> %s (not in the transition table)",
            kind,
            workload.pk,
            workload.generation,
            workload.status,
            new,
        )
        return False

    def move(self, workload: Any, new: str, message: str | None = None) -> str:
        """Set `workload.status` (and `status_message`, when given) in memory; return the old
        status. The one place a status is assigned: InvalidTransition when the table does not
        allow the move (staying in the same status always may)."""
        old = workload.status
        if not self.allows(old, new):
            raise InvalidTransition(f"{old} may not move to {new}.")
        workload.status = new
        if message is not None:
            workload.status_message = message
        return old
