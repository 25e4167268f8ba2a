"""The transition table every product declares (deployments.workloads.transitions)."""

import pytest

from deployments.workloads.errors import InvalidTransition
from deployments.workloads.transitions import TransitionTable

TABLE = TransitionTable({"new": {"running", "cancelled"}, "running": {"done"}, "done": set()})


def test_a_listed_transition_is_allowed():
    assert TABLE.allows("new", "running") and TABLE.allows("running", "done")


def test_an_unlisted_transition_is_refused():
    assert not TABLE.allows("done", "running")
    assert not TABLE.allows("new", "done")


def test_staying_in_the_same_status_is_allowed():
    assert TABLE.allows("done", "done")


def test_an_unknown_status_allows_nothing_else():
    assert not TABLE.allows("mystery", "running")


def test_check_raises_invalid_transition_with_the_message():
    with pytest.raises(InvalidTransition, match="cannot finish yet"):
        TABLE.check("new", "done", "cannot finish yet")
    TABLE.check("new", "running", "unused")  # allowed: no error


def test_sources_are_the_statuses_a_status_may_follow():
    assert TABLE.sources("done") == {"running"}
    assert TABLE.sources("new") == frozenset()


def test_an_action_that_leaves_the_status_unchanged_is_refused():
    with pytest.raises(InvalidTransition, match="already running"):
        TABLE.check("running", "running", "already running")
