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


ACTIONS = TransitionTable(
    {"new": {"running", "cancelled"}, "running": {"done", "cancelled"}, "cancelled": set()},
    actions={"cancel": ({"new", "running"}, {"cancelled"}), "start": ({"new"}, {"running"})},
)


def test_an_action_may_start_only_from_its_declared_statuses():
    assert ACTIONS.may("cancel", "new") and ACTIONS.may("cancel", "running")
    assert not ACTIONS.may("start", "running")
    assert ACTIONS.actions == {"cancel", "start"}


def test_check_action_raises_invalid_transition_with_the_message():
    with pytest.raises(InvalidTransition, match="cannot start twice"):
        ACTIONS.check_action("start", "running", "cannot start twice")
    ACTIONS.check_action("start", "new", "unused")


def test_an_undeclared_action_is_a_key_error_not_a_silent_refusal():
    with pytest.raises(KeyError):
        ACTIONS.may("resume", "new")


def test_a_table_whose_action_cannot_reach_its_target_is_refused_when_built():
    with pytest.raises(ValueError, match="action 'finish' starts from 'new'"):
        TransitionTable(
            {"new": {"running"}, "running": {"done"}, "done": set()},
            actions={"finish": ({"new"}, {"done"})},
        )


def test_a_table_whose_action_starts_from_an_unknown_status_is_refused():
    with pytest.raises(ValueError, match="not in the table"):
        TransitionTable({"new": set()}, actions={"start": ({"mystery"}, {"new"})})


class Row:
    pk, generation = 7, 3

    def __init__(self, status):
        self.status, self.status_message = status, ""


def test_move_sets_the_status_and_message_and_returns_the_old_one():
    row = Row("new")
    assert TABLE.move(row, "running", "Started.") == "new"
    assert (row.status, row.status_message) == ("running", "Started.")


def test_move_refuses_a_transition_the_table_does_not_allow():
    row = Row("done")
    with pytest.raises(InvalidTransition):
        TABLE.move(row, "running")
    assert row.status == "done"


def test_admits_logs_and_refuses_an_illegal_reported_transition(caplog):
    assert TABLE.admits("thing", Row("new"), "running")
    assert not TABLE.admits("thing", Row("done"), "running")
    assert "thing=7 generation=3 refused transition done -> running" in caplog.text
