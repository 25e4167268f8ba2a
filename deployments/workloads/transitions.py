"""A product's transition table: which status may follow which (STYLE §3b).

Each product declares one table next to its status choices (`deployments/<product>/choices.py`)
and its services check a person's action against it instead of testing statuses inline.
"""

from collections.abc import Iterable, Mapping

from deployments.workloads.errors import InvalidTransition


class TransitionTable:
    def __init__(self, table: Mapping[str, Iterable[str]]):
        self._next = {str(old): frozenset(str(new) for new in news) for old, news in table.items()}

    @property
    def statuses(self) -> frozenset[str]:
        return frozenset(self._next)

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
