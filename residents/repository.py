"""Every query of the residents package. Functions take and return plain values; callers hold transactions."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal

import msgspec

from core.accounts.tables import User
from market.tables import Community
from providers.tables import Operator
from residents.satisfaction import ASPECTS, Tally
from residents.schemas import (
    ActivityRow,
    HouseholdRow,
    OptionRow,
    PollRow,
    RedemptionRow,
    ResidentRow,
    ServiceRow,
    SignupView,
    SurveyAnswerView,
    SurveyRow,
    SurveyUploadView,
    WithdrawalRow,
)
from residents.tables import (
    Activity,
    Ballot,
    Household,
    LoginCode,
    PointsAccount,
    PointsPosting,
    PointsService,
    Poll,
    PollOption,
    Redemption,
    Resident,
    Signup,
    Survey,
    SurveyAnswer,
    SurveyOfflineRow,
    SurveyUpload,
    Withdrawal,
)

# Login codes -----------------------------------------------------------------------------------


async def codes_since(*, phone: str | None = None, client: str | None = None, since: datetime) -> int:
    query = LoginCode.count().where(LoginCode.created_at >= since)
    if phone is not None:
        query = query.where(LoginCode.phone == phone)
    if client is not None:
        query = query.where(LoginCode.client == client)
    return await query


async def lock_phone(phone: str) -> None:
    """Serialise code requests for one number, so two at once cannot both pass the limits."""
    await LoginCode.raw("SELECT pg_advisory_xact_lock(hashtext('resident_code:' || {}))", phone)


async def latest_code_at(phone: str) -> datetime | None:
    row = (
        await LoginCode.select(LoginCode.created_at)
        .where(LoginCode.phone == phone)
        .order_by(LoginCode.created_at, ascending=False)
        .first()
    )
    return row["created_at"] if row else None


async def insert_code(*, phone: str, code_hash: str, client: str, now: datetime, expires_at: datetime) -> None:
    await LoginCode.insert(
        LoginCode(phone=phone, code_hash=code_hash, client=client, created_at=now, expires_at=expires_at)
    )


async def live_code_for_update(phone: str, now: datetime) -> dict | None:
    """The phone's newest code (a new code replaces older ones) if unused and unexpired, locked: two guesses at
    once count as two tries, and a code is used once."""
    # SQL: FOR UPDATE, which Piccolo's builder does not offer.
    rows = await LoginCode.raw(
        "SELECT id, code_hash, attempts, used_at, expires_at FROM resident_login_code "
        "WHERE phone = {} ORDER BY created_at DESC, id DESC LIMIT 1 FOR UPDATE",
        phone,
    )
    if not rows or rows[0]["used_at"] is not None or rows[0]["expires_at"] <= now:
        return None
    return rows[0]


async def count_attempt(code_id: int) -> None:
    await LoginCode.update({LoginCode.attempts: LoginCode.attempts + 1}).where(LoginCode.id == code_id)


async def use_code(code_id: int, now: datetime) -> bool:
    used = (
        await LoginCode.update({LoginCode.used_at: now})
        .where(LoginCode.id == code_id, LoginCode.used_at.is_null())
        .returning(LoginCode.id)
    )
    return bool(used)


# Residents and households ----------------------------------------------------------------------

# SQL: a resident joins their household, community and its org node, one row to read.
RESIDENT_SELECT = """
SELECT r.id, r."user" AS user_id, r.phone, r.name, r.household AS household_id, h.community AS community_id,
       c.name AS community_name, c.street AS street_id, o.path AS org_path, h.building, h.unit, h.room,
       h.confirmed_at IS NOT NULL AS confirmed, r.created_at
FROM resident r
JOIN resident_household h ON h.id = r.household
JOIN market_community c ON c.id = h.community
JOIN organisation o ON o.id = c.org
"""


async def phone_exists(phone: str) -> bool:
    return await Resident.exists().where(Resident.phone == phone)


async def resident_by_phone(phone: str) -> ResidentRow | None:
    rows = await Resident.raw(RESIDENT_SELECT + "WHERE r.phone = {}", phone)
    return msgspec.convert(rows[0], ResidentRow) if rows else None


async def resident_by_id(resident_id: int) -> ResidentRow | None:
    rows = await Resident.raw(RESIDENT_SELECT + "WHERE r.id = {}", resident_id)
    return msgspec.convert(rows[0], ResidentRow) if rows else None


async def resident_by_user(user_id: int) -> ResidentRow | None:
    rows = await Resident.raw(RESIDENT_SELECT + 'WHERE r."user" = {}', user_id)
    return msgspec.convert(rows[0], ResidentRow) if rows else None


async def list_residents(
    *, patterns: list[str], community_id: int | None, limit: int, offset: int
) -> tuple[list[ResidentRow], int]:
    rows = await Resident.raw(
        "SELECT q.*, count(*) OVER () AS total FROM (" + RESIDENT_SELECT + ") q "
        "WHERE q.org_path LIKE ANY({}) AND ({}::int IS NULL OR q.community_id = {}) "
        "ORDER BY q.id LIMIT {} OFFSET {}",
        patterns,
        community_id,
        community_id,
        limit,
        offset,
    )
    total = rows[0]["total"] if rows else 0
    return [msgspec.convert({k: v for k, v in r.items() if k != "total"}, ResidentRow) for r in rows], total


async def household_id(community_id: int, building: str, unit: str, room: str, now: datetime) -> int:
    """The household at the address, created unconfirmed when new (two sign-ups at once find the same one)."""
    # SQL: insert-or-find in one statement, with RETURNING.
    rows = await Household.raw(
        "WITH added AS (INSERT INTO resident_household (community, building, unit, room, created_at) "
        "VALUES ({}, {}, {}, {}, {}) ON CONFLICT (community, building, unit, room) DO NOTHING RETURNING id) "
        "SELECT id FROM added UNION ALL SELECT id FROM resident_household "
        "WHERE community = {} AND building = {} AND unit = {} AND room = {} LIMIT 1",
        community_id,
        building,
        unit,
        room,
        now,
        community_id,
        building,
        unit,
        room,
    )
    if not rows:  # inserted by a concurrent transaction not yet visible: ask again
        return await household_id(community_id, building, unit, room, now)
    return rows[0]["id"]


async def insert_resident(*, user_id: int, phone: str, name: str, household_id: int, now: datetime) -> int:
    rows = await Resident.insert(
        Resident(user=user_id, phone=phone, name=name, household=household_id, created_at=now)
    ).returning(Resident.id)
    return rows[0]["id"]


async def delete_resident(resident_id: int) -> None:
    # The ballots keep their household; ON DELETE SET NULL drops the link to the person.
    await Resident.delete().where(Resident.id == resident_id)


async def retire_user(user_id: int, *, username: str, email: str) -> None:
    """The login of a deleted resident: inactive, and nothing left that names the person."""
    await User.update(
        {User.active: False, User.display_name: "已注销居民", User.username: username, User.email: email}
    ).where(User.id == user_id)


HOUSEHOLD_SELECT = """
SELECT h.id, h.community AS community_id, h.building, h.unit, h.room, h.confirmed_at, o.path AS org_path,
       c.street AS street_id
FROM resident_household h JOIN market_community c ON c.id = h.community JOIN organisation o ON o.id = c.org
"""


async def get_household(household_id: int, *, for_update: bool = False) -> HouseholdRow | None:
    lock = " FOR UPDATE OF h" if for_update else ""
    rows = await Household.raw(HOUSEHOLD_SELECT + "WHERE h.id = {}" + lock, household_id)
    return msgspec.convert(rows[0], HouseholdRow) if rows else None


async def list_households(
    *, patterns: list[str], community_id: int | None, confirmed: bool | None, limit: int, offset: int
) -> tuple[list[HouseholdRow], int]:
    rows = await Household.raw(
        "SELECT q.*, count(*) OVER () AS total FROM (" + HOUSEHOLD_SELECT + ") q "
        "WHERE q.org_path LIKE ANY({}) AND ({}::int IS NULL OR q.community_id = {}) "
        "AND ({}::boolean IS NULL OR (q.confirmed_at IS NOT NULL) = {}) "
        "ORDER BY q.community_id, q.building, q.unit, q.room LIMIT {} OFFSET {}",
        patterns,
        community_id,
        community_id,
        confirmed,
        confirmed,
        limit,
        offset,
    )
    total = rows[0]["total"] if rows else 0
    return [msgspec.convert({k: v for k, v in r.items() if k != "total"}, HouseholdRow) for r in rows], total


async def confirm_household(household_id: int, user_id: int, now: datetime) -> None:
    await Household.update({Household.confirmed_at: now, Household.confirmed_by: user_id}).where(
        Household.id == household_id
    )


async def confirm_register(
    community_id: int, addresses: list[tuple[str, str, str]], user_id: int, now: datetime
) -> tuple[int, int]:
    """Every address of the register confirmed, created when missing: (confirmed, created)."""
    # SQL: one upsert over the whole register; xmax = 0 tells a new row from an updated one.
    rows = await Household.raw(
        "INSERT INTO resident_household (community, building, unit, room, confirmed_at, confirmed_by, created_at) "
        "SELECT {}, a.b, a.u, a.r, {}, {}, {} FROM unnest({}::text[], {}::text[], {}::text[]) AS a(b, u, r) "
        "ON CONFLICT (community, building, unit, room) DO UPDATE "
        "SET confirmed_at = COALESCE(resident_household.confirmed_at, EXCLUDED.confirmed_at), "
        "confirmed_by = COALESCE(resident_household.confirmed_by, EXCLUDED.confirmed_by) "
        "RETURNING (xmax = 0) AS created",
        community_id,
        now,
        user_id,
        now,
        [a[0] for a in addresses],
        [a[1] for a in addresses],
        [a[2] for a in addresses],
    )
    created = sum(1 for r in rows if r["created"])
    return len(rows), created


async def confirmed_households(community_id: int) -> int:
    return await Household.count().where(Household.community == community_id, Household.confirmed_at.is_not_null())


# Polls -----------------------------------------------------------------------------------------

POLL_SELECT = """
SELECT p.id, p.community AS community_id, c.name AS community_name, o.path AS org_path, c.street AS street_id,
       p.need AS need_id, p.title, p.opens_at, p.closes_at, p.quorum, p.state, p.created_at, p.closed_at, p.result
FROM resident_poll p JOIN market_community c ON c.id = p.community JOIN organisation o ON o.id = c.org
"""


def _poll(row: dict) -> PollRow:
    if isinstance(row.get("result"), str):
        row = {**row, "result": json.loads(row["result"])}
    return msgspec.convert(row, PollRow)


async def insert_poll(
    *,
    community_id: int,
    need_id: int,
    title: str,
    opens_at: datetime,
    closes_at: datetime,
    quorum: object,
    user_id: int,
    now: datetime,
) -> int:
    rows = await Poll.insert(
        Poll(
            community=community_id,
            need=need_id,
            title=title,
            opens_at=opens_at,
            closes_at=closes_at,
            quorum=quorum,
            created_by=user_id,
            created_at=now,
        )
    ).returning(Poll.id)
    return rows[0]["id"]


async def insert_options(poll_id: int, options: list[dict]) -> None:
    await PollOption.insert(
        *(
            PollOption(
                poll=poll_id,
                position=i + 1,
                kind=o["kind"],
                operator=o.get("operator_id"),
                label=o["label"],
                description=o.get("description", ""),
                score_total=o.get("score_total"),
                score_parts=json.dumps(o.get("score_parts", []), ensure_ascii=False),
            )
            for i, o in enumerate(options)
        )
    )


async def get_poll(poll_id: int, *, for_share: bool = False) -> PollRow | None:
    lock = " FOR SHARE OF p" if for_share else ""
    rows = await Poll.raw(POLL_SELECT + "WHERE p.id = {}" + lock, poll_id)
    return _poll(rows[0]) if rows else None


def list_polls_query(
    *, patterns: list[str] | None, community_ids: list[int] | None, state: str | None, limit: int, offset: int
) -> tuple[str, list]:
    """The statement list_polls sends, for the benchmark's ceiling to send as well."""
    return (
        "SELECT q.*, count(*) OVER () AS total FROM (" + POLL_SELECT + ") q "
        "WHERE ({}::text[] IS NULL OR q.org_path LIKE ANY({})) AND ({}::int[] IS NULL OR q.community_id = ANY({})) "
        "AND ({}::text IS NULL OR q.state = {}) ORDER BY q.closes_at DESC, q.id DESC LIMIT {} OFFSET {}",
        [patterns, patterns, community_ids, community_ids, state, state, limit, offset],
    )


async def list_polls(
    *, patterns: list[str] | None, community_ids: list[int] | None, state: str | None, limit: int, offset: int
) -> tuple[list[PollRow], int]:
    sql, args = list_polls_query(
        patterns=patterns, community_ids=community_ids, state=state, limit=limit, offset=offset
    )
    rows = await Poll.raw(sql, *args)
    total = rows[0]["total"] if rows else 0
    return [_poll({k: v for k, v in r.items() if k != "total"}) for r in rows], total


OPTIONS_SELECT = (
    "SELECT id, poll, position, kind, operator AS operator_id, label, description, score_total, score_parts "
    "FROM resident_poll_option WHERE poll = ANY({}) ORDER BY poll, position"
)


async def options_of(poll_ids: list[int]) -> dict[int, list[OptionRow]]:
    rows = await PollOption.raw(OPTIONS_SELECT, poll_ids)
    found: dict[int, list[OptionRow]] = {i: [] for i in poll_ids}
    for r in rows:
        parts = r["score_parts"]
        found[r["poll"]].append(
            msgspec.convert(
                {
                    **{k: v for k, v in r.items() if k != "poll"},
                    "score_parts": json.loads(parts) if isinstance(parts, str) else parts,
                },
                OptionRow,
            )
        )
    return found


async def upsert_ballot(
    *, poll_id: int, household_id: int, option_id: int, resident_id: int, receipt_hash: str, now: datetime
) -> datetime:
    """The household's ballot, cast or replaced: one row per poll and household whoever of it votes."""
    # SQL: INSERT … ON CONFLICT on the one-per-household constraint, so simultaneous ballots leave one row.
    rows = await Ballot.raw(
        "INSERT INTO resident_ballot (poll, household, option, resident, receipt_hash, cast_at) "
        "VALUES ({}, {}, {}, {}, {}, {}) ON CONFLICT ON CONSTRAINT resident_ballot_one_per_household DO UPDATE "
        "SET option = EXCLUDED.option, resident = EXCLUDED.resident, receipt_hash = EXCLUDED.receipt_hash, "
        "cast_at = EXCLUDED.cast_at RETURNING cast_at",
        poll_id,
        household_id,
        option_id,
        resident_id,
        receipt_hash,
        now,
    )
    return rows[0]["cast_at"]


RECEIPT_SELECT = (
    "SELECT b.poll AS poll_id, b.option AS option_id, b.resident AS resident_id, o.label AS option_label "
    "FROM resident_ballot b JOIN resident_poll_option o ON o.id = b.option WHERE b.receipt_hash = {}"
)


async def ballot_by_receipt(receipt_hash: str) -> dict | None:
    rows = await Ballot.raw(RECEIPT_SELECT, receipt_hash)
    return rows[0] if rows else None


async def household_choice(poll_id: int, household_id: int) -> int | None:
    row = await Ballot.select(Ballot.option).where(Ballot.poll == poll_id, Ballot.household == household_id).first()
    return row["option"] if row else None


async def ballots_of_resident(resident_id: int) -> list[dict]:
    return await Ballot.raw(
        "SELECT b.poll AS poll_id, p.title AS poll_title, o.label AS option_label, b.cast_at "
        "FROM resident_ballot b JOIN resident_poll p ON p.id = b.poll JOIN resident_poll_option o ON o.id = b.option "
        "WHERE b.resident = {} ORDER BY b.cast_at",
        resident_id,
    )


async def due_poll_ids(now: datetime) -> list[int]:
    rows = await Poll.select(Poll.id).where(Poll.state == "open", Poll.closes_at <= now).order_by(Poll.id)
    return [r["id"] for r in rows]


async def claim_closing(poll_id: int, now: datetime) -> dict | None:
    """Open → closed, once: of two closers at once only one gets the row back. The result is written by the
    same transaction (the CHECK on the table holds at commit only because both happen together)."""
    # SQL: the guarded transition, UPDATE … WHERE state = 'open' RETURNING.
    rows = await Poll.raw(
        "UPDATE resident_poll SET state = 'closed', closed_at = {}, result = jsonb_build_object() "
        "WHERE id = {} AND state = 'open' AND closes_at <= {} RETURNING id, community, need, quorum",
        now,
        poll_id,
        now,
    )
    return rows[0] if rows else None


async def vote_counts(poll_id: int) -> dict[int, int]:
    rows = await Ballot.raw(
        "SELECT option, count(*) AS votes FROM resident_ballot WHERE poll = {} GROUP BY option", poll_id
    )
    return {r["option"]: r["votes"] for r in rows}


async def store_result(poll_id: int, result: dict) -> None:
    await Poll.update({Poll.result: json.dumps(result, ensure_ascii=False, default=str)}).where(Poll.id == poll_id)


# Points ledger ---------------------------------------------------------------------------------

HOURS_KINDS = ("time", "time_pool", "time_used")


async def account_id(
    kind: str, community_id: int, now: datetime, *, resident_id: int | None = None, operator_id: int | None = None
) -> int:
    """The account of `kind` for the community (and resident or operator), opened on first use."""
    # SQL: insert-or-find on the expression index of account owners, in one statement.
    rows = await PointsAccount.raw(
        "WITH added AS (INSERT INTO points_account (kind, unit, community, resident, operator, created_at) "
        "VALUES ({}, {}, {}, {}, {}, {}) ON CONFLICT DO NOTHING RETURNING id) "
        "SELECT id FROM added UNION ALL SELECT id FROM points_account WHERE kind = {} AND community = {} "
        "AND coalesce(resident, 0) = coalesce({}::int, 0) AND coalesce(operator, 0) = coalesce({}::int, 0) LIMIT 1",
        kind,
        "hours" if kind in HOURS_KINDS else "points",
        community_id,
        resident_id,
        operator_id,
        now,
        kind,
        community_id,
        resident_id,
        operator_id,
    )
    if not rows:  # opened by a concurrent transaction not yet visible: ask again
        return await account_id(kind, community_id, now, resident_id=resident_id, operator_id=operator_id)
    return rows[0]["id"]


async def post(
    *,
    from_account: int,
    to_account: int,
    unit: str,
    amount: Decimal | int,
    source_kind: str,
    source_id: int,
    key: str,
    memo: str,
    now: datetime,
) -> tuple[int, bool]:
    """One posting and both balances, in the caller's transaction: (posting id, whether it is new). A key
    already posted returns the first posting and moves nothing. Overdrawing a non-issuer account fails on the
    account's CHECK (points_account_not_negative)."""
    # SQL: ON CONFLICT on the idempotency key, with RETURNING.
    rows = await PointsPosting.raw(
        "INSERT INTO points_posting (unit, from_account, to_account, amount, source_kind, source_id, "
        "idempotency_key, memo, created_at) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}) "
        "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
        unit,
        from_account,
        to_account,
        Decimal(amount),
        source_kind,
        source_id,
        key,
        memo[:200],
        now,
    )
    if not rows:
        first = await PointsPosting.select(PointsPosting.id).where(PointsPosting.idempotency_key == key).first()
        assert first is not None
        return first["id"], False
    # Both rows in id order, so two postings between the same accounts lock them in the same order.
    for account, delta in sorted(((from_account, -Decimal(amount)), (to_account, Decimal(amount)))):
        # SQL: Piccolo's builder adds to integer columns only, not to numeric ones.
        await PointsAccount.raw("UPDATE points_account SET balance = balance + {} WHERE id = {}", delta, account)
    return rows[0]["id"], True


async def lock_account(account: int) -> None:
    await PointsAccount.raw("SELECT id FROM points_account WHERE id = {} FOR UPDATE", account)  # SQL: FOR UPDATE


async def posting_exists(key: str) -> bool:
    return await PointsPosting.exists().where(PointsPosting.idempotency_key == key)


async def resident_balances(resident_id: int) -> tuple[Decimal, Decimal]:
    rows = await PointsAccount.select(PointsAccount.unit, PointsAccount.balance).where(
        PointsAccount.resident == resident_id, PointsAccount.kind.is_in(["resident", "time"])
    )
    found = {r["unit"]: r["balance"] for r in rows}
    return found.get("points", Decimal(0)), found.get("hours", Decimal(0))


async def resident_account(resident_id: int, kind: str) -> int | None:
    row = (
        await PointsAccount.select(PointsAccount.id)
        .where(PointsAccount.resident == resident_id, PointsAccount.kind == kind)
        .first()
    )
    return row["id"] if row else None


async def opening_balance(account: int, before: datetime) -> Decimal:
    # SQL: the signed sum of an account's postings before an instant.
    rows = await PointsPosting.raw(
        "SELECT coalesce(sum(CASE WHEN to_account = {} THEN amount ELSE -amount END), 0) AS total "
        "FROM points_posting WHERE (from_account = {} OR to_account = {}) AND created_at < {}",
        account,
        account,
        account,
        before,
    )
    return rows[0]["total"]


async def postings_between(account: int, start: datetime, end: datetime) -> list[dict]:
    # SQL: an account's postings in [start, end), signed from its side.
    return await PointsPosting.raw(
        "SELECT created_at AS at, CASE WHEN to_account = {} THEN amount ELSE -amount END AS amount, "
        "source_kind, source_id, memo FROM points_posting "
        "WHERE (from_account = {} OR to_account = {}) AND created_at >= {} AND created_at < {} ORDER BY created_at, id",
        account,
        account,
        account,
        start,
        end,
    )


async def accounts_earning_before(cutoff: datetime) -> list[dict]:
    """Residents' points accounts holding points and having earned some before `cutoff`."""
    # SQL: accounts joined to their postings' dates.
    return await PointsAccount.raw(
        "SELECT a.id, a.community FROM points_account a WHERE a.kind = 'resident' AND a.balance > 0 "
        "AND EXISTS (SELECT 1 FROM points_posting p WHERE p.to_account = a.id AND p.created_at < {}) ORDER BY a.id",
        cutoff,
    )


async def movements(account: int) -> list[tuple[datetime, int]]:
    """Every posting of an account, signed from its side."""
    # SQL: signed amounts, as in postings_between.
    rows = await PointsPosting.raw(
        "SELECT created_at, CASE WHEN to_account = {} THEN amount ELSE -amount END AS amount FROM points_posting "
        "WHERE from_account = {} OR to_account = {}",
        account,
        account,
        account,
    )
    return [(r["created_at"], int(r["amount"])) for r in rows]


async def community_points(community_id: int) -> dict:
    """Totals of one community's ledger, by where points flowed."""
    # SQL: sums over postings by the kinds of the two accounts.
    rows = await PointsPosting.raw(
        """
        SELECT
          coalesce(sum(p.amount) FILTER (WHERE f.kind = 'pool' AND t.kind = 'resident'), 0) AS issued,
          coalesce(sum(p.amount) FILTER (WHERE f.kind = 'resident' AND t.kind = 'clearing'), 0)
            - coalesce(sum(p.amount) FILTER (WHERE f.kind = 'clearing' AND t.kind = 'resident'), 0) AS redeemed,
          coalesce(sum(p.amount) FILTER (WHERE f.kind = 'clearing' AND t.kind = 'pool'), 0) AS paid_out_points,
          coalesce(sum(d.points * d.fen_per_point) FILTER (WHERE p.source_kind = 'payout'), 0) AS paid_out_fen,
          coalesce(sum(p.amount) FILTER (WHERE t.kind = 'expired'), 0) AS expired,
          coalesce(sum(p.amount) FILTER (WHERE f.kind = 'time_pool'), 0) AS hours_issued,
          coalesce(sum(p.amount) FILTER (WHERE t.kind = 'time_used'), 0) AS hours_withdrawn
        FROM points_posting p JOIN points_account f ON f.id = p.from_account JOIN points_account t ON t.id = p.to_account
        LEFT JOIN points_redemption d ON p.source_kind = 'payout' AND d.id = p.source_id
        WHERE f.community = {} OR t.community = {}
        """,
        community_id,
        community_id,
    )
    balances = await PointsAccount.raw(
        "SELECT coalesce(sum(balance) FILTER (WHERE kind IN ('resident', 'clearing')), 0) AS outstanding, "
        "coalesce(sum(balance) FILTER (WHERE kind = 'time'), 0) AS hours_outstanding "
        "FROM points_account WHERE community = {}",
        community_id,
    )
    return {**rows[0], **balances[0]}


async def balance_sums() -> dict[str, Decimal]:
    """Sum of all accounts per unit: 0 for each, the ledger being double-entry."""
    rows = await PointsAccount.raw("SELECT unit, sum(balance) AS total FROM points_account GROUP BY unit")
    return {r["unit"]: r["total"] for r in rows}


# Activities ------------------------------------------------------------------------------------

ACTIVITY_SELECT = """
SELECT a.id, a.community AS community_id, c.name AS community_name, o.path AS org_path, a.title, a.kind,
       a.starts_at, a.ends_at, a.points_per_hour, a.fixed_points, a.created_at
FROM points_activity a JOIN market_community c ON c.id = a.community JOIN organisation o ON o.id = c.org
"""


async def insert_activity(fields: dict, *, user_id: int, now: datetime) -> int:
    rows = await Activity.insert(
        Activity(
            community=fields["community_id"],
            title=fields["title"],
            kind=fields["kind"],
            starts_at=fields["starts_at"],
            ends_at=fields["ends_at"],
            points_per_hour=fields["points_per_hour"],
            fixed_points=fields["fixed_points"],
            created_by=user_id,
            created_at=now,
        )
    ).returning(Activity.id)
    return rows[0]["id"]


async def get_activity(activity_id: int) -> ActivityRow | None:
    rows = await Activity.raw(ACTIVITY_SELECT + "WHERE a.id = {}", activity_id)
    return msgspec.convert(rows[0], ActivityRow) if rows else None


async def list_activities(
    *, patterns: list[str] | None, community_ids: list[int] | None, limit: int, offset: int
) -> tuple[list[ActivityRow], int]:
    rows = await Activity.raw(
        "SELECT q.*, count(*) OVER () AS total FROM (" + ACTIVITY_SELECT + ") q "
        "WHERE ({}::text[] IS NULL OR q.org_path LIKE ANY({})) AND ({}::int[] IS NULL OR q.community_id = ANY({})) "
        "ORDER BY q.starts_at DESC, q.id DESC LIMIT {} OFFSET {}",
        patterns,
        patterns,
        community_ids,
        community_ids,
        limit,
        offset,
    )
    total = rows[0]["total"] if rows else 0
    return [msgspec.convert({k: v for k, v in r.items() if k != "total"}, ActivityRow) for r in rows], total


SIGNUP_SELECT = """
SELECT s.id, s.activity AS activity_id, s.resident AS resident_id, r.name AS resident_name, r.phone AS resident_phone,
       s.signed_up_at, s.hours, s.awarded, s.confirmed_at
FROM points_signup s JOIN resident r ON r.id = s.resident
"""


async def signups_of(activity_ids: list[int]) -> dict[int, list[SignupView]]:
    rows = await Signup.raw(SIGNUP_SELECT + "WHERE s.activity = ANY({}) ORDER BY s.id", activity_ids)
    found: dict[int, list[SignupView]] = {i: [] for i in activity_ids}
    for r in rows:
        found[r["activity_id"]].append(msgspec.convert(r, SignupView))
    return found


async def my_signups(resident_id: int, activity_ids: list[int]) -> dict[int, int]:
    rows = await Signup.select(Signup.id, Signup.activity).where(
        Signup.resident == resident_id, Signup.activity.is_in(activity_ids or [0])
    )
    return {r["activity"]: r["id"] for r in rows}


async def insert_signup(activity_id: int, resident_id: int, now: datetime) -> int | None:
    # SQL: one sign-up per resident and activity, two at once included (ON CONFLICT DO NOTHING).
    rows = await Signup.raw(
        "INSERT INTO points_signup (activity, resident, signed_up_at) VALUES ({}, {}, {}) "
        "ON CONFLICT (activity, resident) DO NOTHING RETURNING id",
        activity_id,
        resident_id,
        now,
    )
    return rows[0]["id"] if rows else None


async def get_signup(signup_id: int, *, for_update: bool = False) -> dict | None:
    lock = " FOR UPDATE OF s" if for_update else ""
    rows = await Signup.raw(
        "SELECT s.id, s.activity AS activity_id, s.resident AS resident_id, s.confirmed_at, h.community AS "
        "resident_community FROM points_signup s JOIN resident r ON r.id = s.resident "
        "JOIN resident_household h ON h.id = r.household WHERE s.id = {}" + lock,
        signup_id,
    )
    return rows[0] if rows else None


async def confirm_signup(signup_id: int, *, hours: Decimal, awarded: Decimal, user_id: int, now: datetime) -> None:
    await Signup.update(
        {Signup.hours: hours, Signup.awarded: awarded, Signup.confirmed_by: user_id, Signup.confirmed_at: now}
    ).where(Signup.id == signup_id)


async def get_signup_view(signup_id: int) -> SignupView:
    rows = await Signup.raw(SIGNUP_SELECT + "WHERE s.id = {}", signup_id)
    return msgspec.convert(rows[0], SignupView)


# Point-priced services and redemptions ---------------------------------------------------------

SERVICE_SELECT = """
SELECT s.id, s.community AS community_id, c.name AS community_name, o.path AS org_path, s.operator AS operator_id,
       op.name AS operator_name, op.org AS operator_org_id, s.title, s.description, s.price_points, s.capacity,
       s.redeemed, s.opens_at, s.closes_at
FROM points_service s JOIN market_community c ON c.id = s.community JOIN organisation o ON o.id = c.org
JOIN provider_operator op ON op.id = s.operator
"""


async def operator_of_orgs(org_ids: list[int]) -> int | None:
    row = await Operator.select(Operator.id).where(Operator.org.is_in(org_ids or [0])).order_by(Operator.id).first()
    return row["id"] if row else None


async def insert_service(fields: dict, *, operator_id: int, user_id: int, now: datetime) -> int:
    rows = await PointsService.insert(
        PointsService(
            community=fields["community_id"],
            operator=operator_id,
            title=fields["title"],
            description=fields["description"],
            price_points=fields["price_points"],
            capacity=fields["capacity"],
            opens_at=fields["opens_at"],
            closes_at=fields["closes_at"],
            created_by=user_id,
            created_at=now,
        )
    ).returning(PointsService.id)
    return rows[0]["id"]


async def get_service(service_id: int) -> ServiceRow | None:
    rows = await PointsService.raw(SERVICE_SELECT + "WHERE s.id = {}", service_id)
    return msgspec.convert(rows[0], ServiceRow) if rows else None


async def list_services(
    *,
    patterns: list[str] | None,
    community_ids: list[int] | None,
    operator_org_ids: list[int] | None,
    open_at: datetime | None,
    limit: int,
    offset: int,
) -> tuple[list[ServiceRow], int]:
    """Services seen through any of the given scopes (None: that scope is not the caller's)."""
    rows = await PointsService.raw(
        "SELECT q.*, count(*) OVER () AS total FROM (" + SERVICE_SELECT + ") q "
        "WHERE (({}::text[] IS NOT NULL AND q.org_path LIKE ANY({})) "
        "OR ({}::int[] IS NOT NULL AND q.community_id = ANY({}) AND q.opens_at <= {} AND q.closes_at > {}) "
        "OR ({}::int[] IS NOT NULL AND q.operator_org_id = ANY({}))) "
        "ORDER BY q.closes_at DESC, q.id DESC LIMIT {} OFFSET {}",
        patterns,
        patterns,
        community_ids,
        community_ids,
        open_at,
        open_at,
        operator_org_ids,
        operator_org_ids,
        limit,
        offset,
    )
    total = rows[0]["total"] if rows else 0
    return [msgspec.convert({k: v for k, v in r.items() if k != "total"}, ServiceRow) for r in rows], total


async def take_place(service_id: int, now: datetime) -> bool:
    """One place of the service, if it is open and not full: the row lock serialises redemptions of it."""
    rows = (
        await PointsService.update({PointsService.redeemed: PointsService.redeemed + 1})
        .where(
            PointsService.id == service_id,
            PointsService.redeemed < PointsService.capacity,
            PointsService.opens_at <= now,
            PointsService.closes_at > now,
        )
        .returning(PointsService.id)
    )
    return bool(rows)


async def give_back_place(service_id: int) -> None:
    await PointsService.update({PointsService.redeemed: PointsService.redeemed - 1}).where(
        PointsService.id == service_id
    )


async def insert_redemption(service_id: int, resident_id: int, points: int, fen_per_point: int, now: datetime) -> int:
    rows = await Redemption.insert(
        Redemption(service=service_id, resident=resident_id, points=points, fen_per_point=fen_per_point, created_at=now)
    ).returning(Redemption.id)
    return rows[0]["id"]


REDEMPTION_SELECT = """
SELECT d.id, d.service AS service_id, s.title AS service_title, s.community AS community_id, s.operator AS operator_id,
       op.org AS operator_org_id, op.name AS operator_name, d.resident AS resident_id,
       coalesce(r.name, '已注销居民') AS resident_name, coalesce(r.phone, '') AS resident_phone, d.points,
       d.fen_per_point, d.state, d.created_at, d.delivered_at, d.cancelled_at
FROM points_redemption d JOIN points_service s ON s.id = d.service JOIN provider_operator op ON op.id = s.operator
LEFT JOIN resident r ON r.id = d.resident
"""


async def get_redemption(redemption_id: int, *, for_update: bool = False) -> RedemptionRow | None:
    lock = " FOR UPDATE OF d" if for_update else ""
    rows = await Redemption.raw(REDEMPTION_SELECT + "WHERE d.id = {}" + lock, redemption_id)
    return msgspec.convert(rows[0], RedemptionRow) if rows else None


async def list_redemptions(
    *, operator_org_ids: list[int] | None, resident_id: int | None, state: str | None, limit: int, offset: int
) -> tuple[list[RedemptionRow], int]:
    rows = await Redemption.raw(
        "SELECT q.*, count(*) OVER () AS total FROM (" + REDEMPTION_SELECT + ") q "
        "WHERE (({}::int[] IS NOT NULL AND q.operator_org_id = ANY({})) OR ({}::int IS NOT NULL AND q.resident_id = {})) "
        "AND ({}::text IS NULL OR q.state = {}) ORDER BY q.id DESC LIMIT {} OFFSET {}",
        operator_org_ids,
        operator_org_ids,
        resident_id,
        resident_id,
        state,
        state,
        limit,
        offset,
    )
    total = rows[0]["total"] if rows else 0
    return [msgspec.convert({k: v for k, v in r.items() if k != "total"}, RedemptionRow) for r in rows], total


async def settle_redemption(redemption_id: int, state: str, *, user_id: int | None, now: datetime) -> bool:
    """redeemed → delivered or cancelled, once."""
    changes: dict = {Redemption.state: state}
    if state == "delivered":
        changes |= {Redemption.delivered_at: now, Redemption.delivered_by: user_id}
    else:
        changes[Redemption.cancelled_at] = now
    rows = (
        await Redemption.update(changes)
        .where(Redemption.id == redemption_id, Redemption.state == "redeemed")
        .returning(Redemption.id)
    )
    return bool(rows)


# Time bank -------------------------------------------------------------------------------------

WITHDRAWAL_SELECT = """
SELECT w.id, w.resident AS resident_id, r.name AS resident_name, r.phone AS resident_phone, w.community AS community_id,
       o.path AS org_path, w.hours, w.note, w.state, w.created_at, w.confirmed_at
FROM timebank_withdrawal w JOIN resident r ON r.id = w.resident JOIN market_community c ON c.id = w.community
JOIN organisation o ON o.id = c.org
"""


async def insert_withdrawal(resident_id: int, community_id: int, hours: Decimal, note: str, now: datetime) -> int:
    rows = await Withdrawal.insert(
        Withdrawal(resident=resident_id, community=community_id, hours=hours, note=note, created_at=now)
    ).returning(Withdrawal.id)
    return rows[0]["id"]


async def get_withdrawal(withdrawal_id: int, *, for_update: bool = False) -> WithdrawalRow | None:
    lock = " FOR UPDATE OF w" if for_update else ""
    rows = await Withdrawal.raw(WITHDRAWAL_SELECT + "WHERE w.id = {}" + lock, withdrawal_id)
    return msgspec.convert(rows[0], WithdrawalRow) if rows else None


async def list_withdrawals(
    *, patterns: list[str] | None, resident_id: int | None, limit: int, offset: int
) -> tuple[list[WithdrawalRow], int]:
    rows = await Withdrawal.raw(
        "SELECT q.*, count(*) OVER () AS total FROM (" + WITHDRAWAL_SELECT + ") q "
        "WHERE (({}::text[] IS NOT NULL AND q.org_path LIKE ANY({})) OR ({}::int IS NOT NULL AND q.resident_id = {})) "
        "ORDER BY q.id DESC LIMIT {} OFFSET {}",
        patterns,
        patterns,
        resident_id,
        resident_id,
        limit,
        offset,
    )
    total = rows[0]["total"] if rows else 0
    return [msgspec.convert({k: v for k, v in r.items() if k != "total"}, WithdrawalRow) for r in rows], total


async def confirm_withdrawal(withdrawal_id: int, user_id: int, now: datetime) -> bool:
    rows = (
        await Withdrawal.update(
            {Withdrawal.state: "confirmed", Withdrawal.confirmed_by: user_id, Withdrawal.confirmed_at: now}
        )
        .where(Withdrawal.id == withdrawal_id, Withdrawal.state == "requested")
        .returning(Withdrawal.id)
    )
    return bool(rows)


# Demo ------------------------------------------------------------------------------------------


async def any_household() -> bool:
    return await Household.exists()


async def community_of_org(org_id: int) -> int | None:
    row = await Community.select(Community.id).where(Community.org == org_id).first()
    return row["id"] if row else None


# Satisfaction surveys --------------------------------------------------------------------------


SURVEY_SELECT = """
SELECT s.id, s.contract AS contract_id, s.community AS community_id, c.name AS community_name, o.path AS org_path,
       s.operator AS operator_id, p.name AS operator_name, s.period_start, s.period_end, s.opens_at, s.closes_at,
       s.state, s.created_at, s.closed_at, s.result
FROM resident_survey s JOIN market_community c ON c.id = s.community JOIN organisation o ON o.id = c.org
JOIN provider_operator p ON p.id = s.operator
"""


def _survey(row: dict) -> SurveyRow:
    if isinstance(row.get("result"), str):
        row = {**row, "result": json.loads(row["result"])}
    return msgspec.convert(row, SurveyRow)


async def open_surveys(
    *,
    day: date,
    period_start: date,
    period_end: date,
    opens_at: datetime,
    closes_at: datetime,
    now: datetime,
    contract_ids: list[int] | None = None,
) -> list[dict]:
    """A survey for the quarter of every contract in force on `day` (of `contract_ids`, when given) that has
    none yet: the unique (contract, quarter) makes two openers at once create one each. Returns the new ones."""
    # SQL: INSERT … SELECT over the contracts in force, skipping conflicts on the once-per-quarter constraint.
    return await Survey.raw(
        "INSERT INTO resident_survey (contract, community, operator, period_start, period_end, opens_at, closes_at, "
        "created_at) SELECT k.id, k.community, k.operator, {}, {}, {}, {}, {} FROM market_contract k "
        "WHERE k.status IN ('active', 'expiring') AND k.community IS NOT NULL AND k.starts_on <= {} AND k.ends_on > {} "
        "AND ({}::int[] IS NULL OR k.id = ANY({})) "
        "ORDER BY k.id ON CONFLICT ON CONSTRAINT resident_survey_once DO NOTHING RETURNING id, contract, community",
        period_start,
        period_end,
        opens_at,
        closes_at,
        now,
        day,
        day,
        contract_ids,
        contract_ids,
    )


async def get_survey(survey_id: int, *, for_share: bool = False) -> SurveyRow | None:
    lock = " FOR SHARE OF s" if for_share else ""
    rows = await Survey.raw(SURVEY_SELECT + "WHERE s.id = {}" + lock, survey_id)
    return _survey(rows[0]) if rows else None


async def list_surveys(
    *, patterns: list[str] | None, community_ids: list[int] | None, state: str | None, limit: int, offset: int
) -> tuple[list[SurveyRow], int]:
    rows = await Survey.raw(
        "SELECT q.*, count(*) OVER () AS total FROM (" + SURVEY_SELECT + ") q "
        "WHERE ({}::text[] IS NULL OR q.org_path LIKE ANY({})) AND ({}::int[] IS NULL OR q.community_id = ANY({})) "
        "AND ({}::text IS NULL OR q.state = {}) ORDER BY q.period_start DESC, q.id DESC LIMIT {} OFFSET {}",
        patterns,
        patterns,
        community_ids,
        community_ids,
        state,
        state,
        limit,
        offset,
    )
    total = rows[0]["total"] if rows else 0
    return [_survey({k: v for k, v in r.items() if k != "total"}) for r in rows], total


ANSWER_COLUMNS = "survey AS survey_id, overall, attitude, responsiveness, quality, price, comment, answered_at"


async def upsert_answer(
    *, survey_id: int, household_id: int, resident_id: int, marks: dict[str, int], comment: str, now: datetime
) -> SurveyAnswerView:
    """The household's answer, given or replaced: one row per survey and household whoever of it answers."""
    # SQL: INSERT … ON CONFLICT on the one-per-household constraint, so simultaneous answers leave one row.
    rows = await SurveyAnswer.raw(
        "INSERT INTO resident_survey_answer (survey, household, resident, overall, attitude, responsiveness, "
        "quality, price, comment, answered_at) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}) "
        "ON CONFLICT ON CONSTRAINT resident_survey_answer_one_per_household DO UPDATE SET "
        "resident = EXCLUDED.resident, overall = EXCLUDED.overall, attitude = EXCLUDED.attitude, "
        "responsiveness = EXCLUDED.responsiveness, quality = EXCLUDED.quality, price = EXCLUDED.price, "
        "comment = EXCLUDED.comment, answered_at = EXCLUDED.answered_at RETURNING " + ANSWER_COLUMNS,
        survey_id,
        household_id,
        resident_id,
        marks["overall"],
        marks["attitude"],
        marks["responsiveness"],
        marks["quality"],
        marks["price"],
        comment,
        now,
    )
    return msgspec.convert(rows[0], SurveyAnswerView)


async def household_answer(survey_id: int, household_id: int) -> SurveyAnswerView | None:
    rows = await SurveyAnswer.raw(
        "SELECT " + ANSWER_COLUMNS + " FROM resident_survey_answer WHERE survey = {} AND household = {}",
        survey_id,
        household_id,
    )
    return msgspec.convert(rows[0], SurveyAnswerView) if rows else None


def _tally_sql(table: str) -> str:
    sums = ", ".join(f"coalesce(sum({name}), 0) AS {name}" for name in ("overall", *ASPECTS))
    return f"SELECT count(*) AS n, count(*) FILTER (WHERE overall >= 4) AS satisfied, {sums} FROM {table} WHERE survey = {{}}"


async def tallies(survey_id: int) -> tuple[Tally, Tally]:
    """(online, offline): the households' answers and the surveyors' offline rows, counted apart."""
    # SQL: aggregates with FILTER, one row per source.
    found = []
    for table in ("resident_survey_answer", "resident_survey_offline_row"):
        row = (await SurveyAnswer.raw(_tally_sql(table), survey_id))[0]
        found.append(
            Tally(
                count=row["n"],
                satisfied=row["satisfied"],
                sums={name: int(row[name]) for name in ("overall", *ASPECTS)},
            )
        )
    return found[0], found[1]


async def insert_upload(
    *,
    survey_id: int,
    user_id: int,
    surveyor_org_id: int,
    file_name: str,
    rows: list[dict],
    now: datetime,
) -> int:
    """The upload and every row of it, in the caller's transaction."""
    created = await SurveyUpload.insert(
        SurveyUpload(
            survey=survey_id,
            uploaded_by=user_id,
            surveyor_org=surveyor_org_id,
            file_name=file_name,
            row_count=len(rows),
            satisfied=sum(1 for r in rows if r["overall"] >= 4),
            uploaded_at=now,
        )
    ).returning(SurveyUpload.id)
    upload_id = created[0]["id"]
    await SurveyOfflineRow.insert(
        *(
            SurveyOfflineRow(
                upload=upload_id,
                survey=survey_id,
                row_number=r["row"],
                overall=r["overall"],
                attitude=r["attitude"],
                responsiveness=r["responsiveness"],
                quality=r["quality"],
                price=r["price"],
                comment=r["comment"],
            )
            for r in rows
        )
    )
    return upload_id


async def uploads_of(survey_id: int) -> list[SurveyUploadView]:
    rows = await SurveyUpload.raw(
        "SELECT u.id, u.survey AS survey_id, u.uploaded_by, coalesce(nullif(a.display_name, ''), a.username) "
        "AS uploaded_by_name, u.surveyor_org AS surveyor_org_id, o.name AS surveyor_org_name, u.file_name, "
        "u.row_count, u.satisfied, u.uploaded_at FROM resident_survey_upload u "
        "JOIN account_user a ON a.id = u.uploaded_by JOIN organisation o ON o.id = u.surveyor_org "
        "WHERE u.survey = {} ORDER BY u.id",
        survey_id,
    )
    return msgspec.convert(rows, list[SurveyUploadView])


async def answers_of_resident(resident_id: int) -> list[dict]:
    """The survey answers the resident gave (for their export), with the survey they belong to."""
    return await SurveyAnswer.raw(
        "SELECT a.survey AS survey_id, s.period_start, s.period_end, p.name AS operator_name, a.overall, a.attitude, "
        "a.responsiveness, a.quality, a.price, a.comment, a.answered_at FROM resident_survey_answer a "
        "JOIN resident_survey s ON s.id = a.survey JOIN provider_operator p ON p.id = s.operator "
        "WHERE a.resident = {} ORDER BY a.answered_at",
        resident_id,
    )


async def due_survey_ids(now: datetime) -> list[int]:
    rows = await Survey.select(Survey.id).where(Survey.state == "open", Survey.closes_at <= now).order_by(Survey.id)
    return [r["id"] for r in rows]


async def claim_survey_closing(survey_id: int, now: datetime, result: dict) -> dict | None:
    """Open → closed with its result, once: of two closers at once only one gets the row back (the other waits
    for the first's commit, then finds the survey closed)."""
    # SQL: the guarded transition, UPDATE … WHERE state = 'open' RETURNING.
    rows = await Survey.raw(
        "UPDATE resident_survey SET state = 'closed', closed_at = {}, result = {}::jsonb "
        "WHERE id = {} AND state = 'open' AND closes_at <= {} RETURNING id, contract, community, period_start",
        now,
        json.dumps(result, ensure_ascii=False),
        survey_id,
        now,
    )
    return rows[0] if rows else None


async def lock_survey_for_closing(survey_id: int) -> str | None:
    """The survey's state once answers and uploads in flight (they hold it FOR SHARE) and another closer are
    done, so the count sees them all."""
    # SQL: FOR UPDATE, which Piccolo's builder does not offer.
    rows = await Survey.raw("SELECT state FROM resident_survey WHERE id = {} FOR UPDATE", survey_id)
    return rows[0]["state"] if rows else None


async def closed_satisfaction(period_start: date) -> dict[int, str]:
    """The combined rate of each contract's closed survey of the quarter starting `period_start`, as text
    percent, for contracts whose survey had any questionnaire."""
    rows = await Survey.raw(
        "SELECT contract, result -> 'combined' ->> 'rate' AS rate FROM resident_survey "
        "WHERE period_start = {} AND state = 'closed' AND result -> 'combined' ->> 'rate' IS NOT NULL",
        period_start,
    )
    return {r["contract"]: r["rate"] for r in rows}


async def closed_results_of_community(community_id: int) -> list[dict]:
    """The closed surveys of the community with their results, newest quarter first."""
    rows = await Survey.raw(
        "SELECT id, period_start, result FROM resident_survey WHERE community = {} AND state = 'closed' "
        "ORDER BY period_start DESC, id",
        community_id,
    )
    return [{**r, "result": json.loads(r["result"]) if isinstance(r["result"], str) else r["result"]} for r in rows]


async def closed_results_of_communities(community_ids: list[int]) -> list[dict]:
    """closed_results_of_community for many communities in one statement, with the community id."""
    rows = await Survey.raw(
        "SELECT id, community AS community_id, period_start, result FROM resident_survey "
        "WHERE community = ANY({}) AND state = 'closed' ORDER BY community, period_start DESC, id",
        community_ids,
    )
    return [{**r, "result": json.loads(r["result"]) if isinstance(r["result"], str) else r["result"]} for r in rows]


async def contract_in_force(community_id: int, day: date) -> int | None:
    """A signed service contract of the community in force on `day`, for the demo's surveys."""
    rows = await Survey.raw(
        "SELECT id FROM market_contract WHERE community = {} AND status IN ('active', 'expiring') "
        "AND starts_on <= {} AND ends_on > {} ORDER BY id LIMIT 1",
        community_id,
        day,
        day,
    )
    return rows[0]["id"] if rows else None
