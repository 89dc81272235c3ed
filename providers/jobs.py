"""What the scheduler runs for the registry. Each job returns counts for the run log."""

from __future__ import annotations

from datetime import date

import msgspec

from core import clock
from core.accounts import repository as accounts_repo
from core.flags import FlagDraft
from providers import repository as repo
from providers import service as providers
from providers.labels import REGISTRY_STATUS_LABELS


async def registry_rules(day: date) -> dict:
    """Operators whose listings have all lapsed become 'expired'; then proposals from evaluations for a
    reviewer to confirm."""
    expired = await providers.expire_lapsed_operators()
    return {"expired": len(expired), "proposals": len(await providers.run_registry_rules())}


class AllianceStanding(msgspec.Struct, kw_only=True):
    flags: list[FlagDraft]  # members of approved alliances no longer in good standing
    settled: list[int]  # flagged members since back in good standing, or gone from their alliance


async def alliance_standing(flagged: list[int]) -> AllianceStanding:
    """Each member of an approved alliance that the registry suspended, removed or let expire, or whose listing
    for its category lapsed, is flagged to the city and the alliance's lead, once per status; matching already
    leaves it out of new offers."""
    today = clock.today()
    city = await accounts_repo.first_city()
    flags = [
        FlagDraft(
            kind="alliance_member_standing",
            subject_type="alliance_member",
            subject_id=row["id"],
            mark=row["registry_status"],
            severity="warning",
            scope_path=city.path if city else "/",
            also_paths=[row["lead_path"]],
            title=f"产业联盟{row['alliance_name']}成员{row['operator_name']}名录状态为"
            f"{REGISTRY_STATUS_LABELS.get(row['registry_status'], row['registry_status'])}"
            f"或{row['category']}类别入库已失效，已不参与新的推荐",
            detail={"alliance_id": row["alliance_id"], "category": row["category"]},
        )
        for row in await repo.alliance_members_not_in_good_standing(today)
    ]
    return AllianceStanding(flags=flags, settled=await repo.alliance_members_back_in_good_standing(flagged, today))
