"""The pure maths behind a platform's portfolio, the platform-run comparison and an alliance's offer."""

from __future__ import annotations

from decimal import Decimal

from market import matching, portfolio
from market.service import franchise_charge


def test_the_cross_subsidy_is_the_surplus_that_covers_a_gap():
    result = portfolio.portfolio([(900, 500), (100, 300), (50, 50)])
    assert (result.total.income, result.total.cost, result.total.net) == (1050, 850, 200)
    assert (result.surplus, result.deficit, result.cross_subsidy) == (400, 200, 200)
    assert portfolio.portfolio([(100, 300)]).cross_subsidy == 0
    assert portfolio.portfolio([]).total.ratio is None


def test_old_renovation_communities_split_by_who_runs_them():
    split = portfolio.comparison([(1, 800, 400), (2, 300, 600), (3, 0, 0)], {1})
    assert (split["platform"].count, split["platform"].ratio) == (1, Decimal(2))
    assert (split["market"].count, split["market"].income, split["market"].cost) == (2, 300, 600)


def test_a_franchise_month_is_a_twelfth_of_the_fee_plus_the_revenue_share():
    assert franchise_charge(1_200_000, Decimal("0.05"), 1_000_000) == (100_000, 50_000)
    assert franchise_charge(100, None, 999) == (8, 0)  # 8.33 rounds to 8
    assert franchise_charge(0, Decimal("0.035"), 10) == (0, 0)  # 0.35 rounds down


def _score(operator_id: int, total: float, covered: set[str]) -> matching.MatchScore:
    return matching.MatchScore(operator_id, f"运营商{operator_id}", total, frozenset(covered))


def test_an_alliance_offers_its_lead_and_the_best_specialist_for_each_need():
    scored = {1: _score(1, 80, {"integrated"}), 2: _score(2, 70, {"elderly"}), 3: _score(3, 60, {"elderly"})}
    roles = [(1, "integrated"), (2, "elderly"), (3, "elderly"), (4, "childcare")]
    offer = matching.alliance_offer(9, "联盟", roles, scored, frozenset({"elderly", "childcare"}))
    assert offer is not None and offer.bundle.integrated is scored[1]
    assert offer.bundle.specialists == {"elderly": scored[2]} and offer.bundle.uncovered == frozenset({"childcare"})
    assert offer.total == 75.0
    assert matching.alliance_offer(9, "联盟", [(4, "childcare")], scored, frozenset({"childcare"})) is None
