from decimal import Decimal

from residents.tally import mask_phone, tally


def test_every_option_is_listed_and_the_single_most_voted_wins():
    result = tally([1, 2, 3], {1: 2, 3: 5}, 10, Decimal("0.5"))
    assert result["votes"] == {"1": 2, "2": 0, "3": 5}
    assert (result["ballots"], result["turnout"], result["quorum_met"], result["winner_option_id"]) == (
        7,
        "0.7000",
        True,
        3,
    )


def test_a_tie_or_no_ballot_has_no_winner_and_no_household_meets_no_quorum():
    assert tally([1, 2], {1: 3, 2: 3}, 6, Decimal("1"))["winner_option_id"] is None
    empty = tally([1, 2], {}, 0, Decimal("0.1"))
    assert (empty["winner_option_id"], empty["turnout"], empty["quorum_met"]) == (None, "0", False)


def test_the_turnout_just_below_the_quorum_misses_it():
    assert tally([1], {1: 29}, 100, Decimal("0.3"))["quorum_met"] is False
    assert tally([1], {1: 30}, 100, Decimal("0.3"))["quorum_met"] is True


def test_a_phone_number_is_masked_in_the_middle():
    assert mask_phone("13812341234") == "138****1234"
