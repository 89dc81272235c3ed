"""Every query of the residents package. Functions take and return plain values; callers hold transactions."""

from __future__ import annotations

import json
from datetime import date, datetime

import msgspec

from core.accounts.tables import User
from market.tables import Community
from residents.satisfaction import ASPECTS, Tally
from residents.schemas import (
    HouseholdRow,
    OptionRow,
    PollRow,
    ResidentRow,
    SurveyAnswerView,
    SurveyRow,
    SurveyUploadView,
)
from residents.tables import (
    Ballot,
    Household,
    LoginCode,
    Poll,
    PollOption,
    Resident,
    Survey,
    SurveyAnswer,
    SurveyOfflineRow,
    SurveyUpload,
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
       p.need AS need_id, p.title, p.opens_at, p.closes_at, p.quorum, p.state, p.created_at, p.closed_at, p.result,
       p.decision_follows, p.decision_option, p.decision_reason, p.decided_at
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


async def list_polls(
    *, patterns: list[str] | None, community_ids: list[int] | None, state: str | None, limit: int, offset: int
) -> tuple[list[PollRow], int]:
    rows = await Poll.raw(
        "SELECT q.*, count(*) OVER () AS total FROM (" + POLL_SELECT + ") q "
        "WHERE ({}::text[] IS NULL OR q.org_path LIKE ANY({})) AND ({}::int[] IS NULL OR q.community_id = ANY({})) "
        "AND ({}::text IS NULL OR q.state = {}) ORDER BY q.closes_at DESC, q.id DESC LIMIT {} OFFSET {}",
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
    return [_poll({k: v for k, v in r.items() if k != "total"}) for r in rows], total


async def options_of(poll_ids: list[int]) -> dict[int, list[OptionRow]]:
    rows = await PollOption.raw(
        "SELECT id, poll, position, kind, operator AS operator_id, label, description, score_total, score_parts "
        "FROM resident_poll_option WHERE poll = ANY({}) ORDER BY poll, position",
        poll_ids,
    )
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


async def ballot_by_receipt(receipt_hash: str) -> dict | None:
    rows = await Ballot.raw(
        "SELECT b.poll AS poll_id, b.option AS option_id, b.resident AS resident_id, o.label AS option_label "
        "FROM resident_ballot b JOIN resident_poll_option o ON o.id = b.option WHERE b.receipt_hash = {}",
        receipt_hash,
    )
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
        "WHERE id = {} AND state = 'open' AND closes_at <= {} RETURNING id, community, quorum",
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


async def record_decision(
    poll_id: int, *, follows: bool, option_id: int | None, reason: str, user_id: int, now: datetime
) -> bool:
    rows = (
        await Poll.update(
            {
                Poll.decision_follows: follows,
                Poll.decision_option: option_id,
                Poll.decision_reason: reason,
                Poll.decided_by: user_id,
                Poll.decided_at: now,
            }
        )
        .where(Poll.id == poll_id, Poll.state == "closed", Poll.decided_at.is_null())
        .returning(Poll.id)
    )
    return bool(rows)


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


# Demo ------------------------------------------------------------------------------------------


async def any_household() -> bool:
    return await Household.exists()


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


async def community_of_org(org_id: int) -> int | None:
    row = await Community.select(Community.id).where(Community.org == org_id).first()
    return row["id"] if row else None
