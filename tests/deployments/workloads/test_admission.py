"""The core admission (deployments.workloads.admission): the facts are gathered once and every
rule runs over them; a product gives only its wording."""

from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest

from catalog.models import GpuType
from deployments.workloads import admission, spend
from deployments.workloads.errors import BudgetExceeded, QuotaExceeded, SelfApproval
from portal.models import Team

NOW = datetime(2026, 11, 11, tzinfo=UTC)  # 20 of 30 days left: 2/3 of the month
L4 = GpuType(name="L4")
ENDPOINT = admission.Wording()
BATCH = admission.Wording(gpus=" (per shard x shards)", cost="Estimated cost", one_off=True)


def _team(**fields):
    base = {
        "max_gpus": 8,
        "monthly_budget": None,
        "approval_cost_threshold": None,
        "over_budget_policy": Team.OverBudgetPolicy.REFUSE,
    }
    return Team(name="search", slug="search", **{**base, **fields})


def _facts(team, in_use=0, type_in_use=0, committed="0", rules=(None, False), spent="0"):
    calls = []

    def source(t, now):
        calls.append(now)
        return Decimal(spent)

    usage = {"in_use": in_use, "type_in_use": type_in_use, "committed": Decimal(committed)}
    original = spend._source
    spend.register_spend_source(source)
    try:
        facts = admission.gather(team, L4, usage, rules, now=NOW)
    finally:
        spend._source = original
    return facts, calls


def test_the_spend_is_read_once_per_request_and_only_when_the_team_has_a_budget():
    _facts_, calls = _facts(_team(monthly_budget=Decimal("1000")))
    assert len(calls) == 1
    _facts_, calls = _facts(_team())
    assert calls == []


def test_more_gpus_than_the_team_has_left_is_refused_with_the_products_wording():
    facts, _ = _facts(_team(max_gpus=8), in_use=6)
    verdict = admission.judge(facts, 4, None, BATCH)
    assert verdict.problems == ["Needs 4 GPUs (per shard x shards) but the team has 2 of 8 left."]
    with pytest.raises(QuotaExceeded):
        admission.raise_for_problems(verdict)


def test_the_gpu_types_own_quota_is_checked_too():
    facts, _ = _facts(_team(max_gpus=100), type_in_use=3, rules=(4, False))
    verdict = admission.judge(facts, 2, None, ENDPOINT)
    assert verdict.problems == ["Needs 2 L4 GPUs but the team has 1 of its 4 L4 quota left."]


def test_approval_reasons_name_the_gpu_type_and_the_threshold():
    facts, _ = _facts(_team(approval_cost_threshold=Decimal("100")), rules=(None, True))
    verdict = admission.judge(facts, 1, Decimal("150"), ENDPOINT)
    assert verdict.refusals == [] and verdict.needs_approval
    assert verdict.approval_reasons[0] == "L4 GPUs always need approval."
    assert "Monthly cost at max replicas" in verdict.approval_reasons[1]


def test_an_unknown_spend_refuses_a_team_with_a_budget_fails_closed(monkeypatch):
    monkeypatch.setattr(spend, "_source", None)
    facts, _ = _facts(_team(monthly_budget=Decimal("1000")))
    verdict = admission.judge(
        admission.gather(
            facts.team, L4, {"in_use": 0, "type_in_use": 0, "committed": 0}, (None, False), NOW
        ),
        1,
        Decimal("1"),
        ENDPOINT,
    )
    assert verdict.problems[0].startswith("The team's spend this month is unknown")
    with pytest.raises(BudgetExceeded):
        admission.raise_for_problems(verdict)


def test_gather_without_a_spend_source_records_why(monkeypatch):
    monkeypatch.setattr(spend, "_source", None)
    team = _team(monthly_budget=Decimal("1000"))
    facts = admission.gather(
        team, L4, {"in_use": 0, "type_in_use": 0, "committed": 0}, (None, False), NOW
    )
    assert facts.spent is None and "no spend source is registered" in facts.spend_unknown
    assert admission.judge(facts, 1, Decimal("1"), ENDPOINT).refusals[0].kind == "budget"


def test_a_monthly_cost_counts_for_the_share_of_the_month_left_a_one_off_cost_whole():
    team = _team(monthly_budget=Decimal("100"))
    facts, _ = _facts(team, spent="40")
    # 90/month for the 2/3 left = 60: 40 + 60 = 100, within the budget.
    assert admission.judge(facts, 1, Decimal("90"), ENDPOINT).refusals == []
    # A batch job's 90 counts whole: 40 + 90 = 130, over it.
    assert admission.judge(facts, 1, Decimal("90"), BATCH).refusals[0].kind == "budget"


def test_over_budget_under_the_approval_policy_asks_for_approval_instead():
    team = _team(monthly_budget=Decimal("100"), over_budget_policy=Team.OverBudgetPolicy.APPROVAL)
    facts, _ = _facts(team, spent="90")
    verdict = admission.judge(facts, 1, Decimal("90"), BATCH)
    assert verdict.refusals == [] and verdict.budget_warning in verdict.approval_reasons


@pytest.mark.parametrize("noun", ["endpoint", "batch job", "route"])
def test_four_eyes_refuses_the_requesters_own_approval_for_every_product(noun):
    user = SimpleNamespace(pk=7)
    with pytest.raises(SelfApproval, match=f"You requested this {noun}; another team admin"):
        admission.check_four_eyes(SimpleNamespace(requested_by_id=7), user, noun)
    admission.check_four_eyes(SimpleNamespace(requested_by_id=8), user, noun)  # someone else
