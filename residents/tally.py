"""Counting a closed poll: pure functions, no database.

Single choice (one option per household): the poll chooses one operator or package, and a plurality of
single-choice ballots answers that; ranked choice was left out because its tallying and explanation cost more
than choosing one option needs.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal


def tally(option_ids: list[int], counts: dict[int, int], confirmed_households: int, quorum: Decimal) -> dict:
    """Votes per option (every option listed, unvoted ones at 0), turnout = ballots ÷ confirmed households,
    whether the quorum was met, and the winner: the option with most votes, none on a tie or with no ballots."""
    votes = {option_id: counts.get(option_id, 0) for option_id in option_ids}
    ballots = sum(votes.values())
    turnout = (
        (Decimal(ballots) / Decimal(confirmed_households)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
        if confirmed_households
        else Decimal(0)
    )
    most = max(votes.values(), default=0)
    leaders = [option_id for option_id, n in votes.items() if n == most]
    winner = leaders[0] if most > 0 and len(leaders) == 1 else None
    return {
        "ballots": ballots,
        "confirmed_households": confirmed_households,
        "turnout": str(turnout),
        "quorum": str(quorum),
        "quorum_met": confirmed_households > 0 and turnout >= quorum,
        "votes": {str(option_id): n for option_id, n in votes.items()},
        "winner_option_id": winner,
    }


def mask_phone(phone: str) -> str:
    """138****1234: what everyone but the resident and the confirming street sees."""
    return f"{phone[:3]}****{phone[-4:]}"
