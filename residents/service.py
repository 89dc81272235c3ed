"""Rules for residents: one-time codes, sign-up and log-in, households, polls, ballots and results."""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import re
import secrets
import zipfile
from dataclasses import asdict
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import asyncpg
import msgspec
import openpyxl

from core import clock
from core.accounts import service as accounts
from core.accounts.principal import OFFICIAL_ROLES, Principal, fold_paths, like_patterns, path_in_scope
from core.accounts.tables import Role
from core.audit import service as audit
from core.db import transaction
from core.errors import DomainError, require_reason
from core.pagination import with_total
from core.settings import get_settings
from market import repository as market_repo
from market import service as market
from market.errors import CommunityNotFound
from market.schemas import NeedRow
from residents import repository as repo
from residents import satisfaction, sms
from residents.errors import (
    ActivityInvalid,
    ActivityNotFound,
    ActivityOver,
    ActivityWindowInvalid,
    AlreadyAccepted,
    AlreadyDecided,
    AlreadySignedUp,
    ClientTooBusy,
    CodeExhausted,
    CodeInvalid,
    CodeTooSoon,
    CommunityUnknown,
    DeviationNeedsReason,
    HoursInvalid,
    HouseholdNotFound,
    HouseholdUnconfirmed,
    InsufficientHours,
    InsufficientPoints,
    NeedNotOpen,
    NeedUnknown,
    NoClosedSurvey,
    NoContractInCommunity,
    NotCommunityStreet,
    NotDistrictSurveyor,
    NotRegistered,
    OptionNotShortlisted,
    OptionUnknown,
    PhoneTaken,
    PollNotClosed,
    PollNotFound,
    PollNotOpen,
    QuorumInvalid,
    ReceiptNotFound,
    RecipientUnknown,
    RedemptionNotFound,
    RedemptionSettled,
    RegisterInvalid,
    ResidentNotFound,
    SatisfactionTooLow,
    ServiceInvalid,
    ServiceNotFound,
    ServiceUnavailable,
    SignupConfirmed,
    SignupNotFound,
    StatementMonthInvalid,
    SurveyFileInvalid,
    SurveyHouseholdUnconfirmed,
    SurveyNotClosed,
    SurveyNotFound,
    SurveyNotOpen,
    TooFewOptions,
    WindowInvalid,
    WithdrawalConfirmed,
    WithdrawalNotFound,
)
from residents.points import activity_award, expiring_points, is_quarter_hours, payout_fen, statement_lines
from residents.schemas import (
    AcceptanceView,
    ActivityRow,
    ActivityView,
    Balances,
    BallotReceipt,
    CommunityPoints,
    HouseholdRow,
    OptionCount,
    OptionRow,
    PollDecision,
    PollResult,
    PollRow,
    ReceiptCheck,
    RedemptionRow,
    RedemptionView,
    RegisterImported,
    ResidentExport,
    ResidentRow,
    ResidentView,
    ServiceRow,
    ServiceView,
    SignupView,
    Statement,
    StatementLine,
    SurveyAnswerCreate,
    SurveyAnswerView,
    SurveyResult,
    SurveyRow,
    SurveyUploadView,
    SurveyView,
    TransferDone,
    WithdrawalRow,
    WithdrawalView,
)
from residents.tally import mask_phone, tally

CODE_LIFETIME = timedelta(minutes=5)
CODE_TRIES = 5
RESEND_AFTER = timedelta(seconds=60)
CODES_PER_PHONE_PER_HOUR = 5
CODES_PER_CLIENT_PER_HOUR = 20


# One-time codes --------------------------------------------------------------------------------


def _code_hash(phone: str, code: str) -> str:
    key = get_settings().secret_key.encode()
    return hmac.new(key, f"resident-code:{phone}:{code}".encode(), hashlib.sha256).hexdigest()


async def send_code(phone: str, client: str) -> int:
    """Send a six-digit code to `phone`; seconds it stays valid. One a minute and five an hour per number,
    twenty an hour per client address."""
    now = clock.now()
    code = f"{secrets.randbelow(1_000_000):06d}"
    async with transaction():
        await repo.lock_phone(phone)
        last = await repo.latest_code_at(phone)
        hour_ago = now - timedelta(hours=1)
        if last is not None and now - last < RESEND_AFTER:
            raise CodeTooSoon(
                detail={"field": "phone", "retry_after": int((RESEND_AFTER - (now - last)).total_seconds()) + 1}
            )
        if await repo.codes_since(phone=phone, since=hour_ago) >= CODES_PER_PHONE_PER_HOUR:
            raise CodeTooSoon(detail={"field": "phone", "retry_after": 3600})
        if await repo.codes_since(client=client, since=hour_ago) >= CODES_PER_CLIENT_PER_HOUR:
            raise ClientTooBusy(detail={"retry_after": 3600})
        await repo.insert_code(
            phone=phone, code_hash=_code_hash(phone, code), client=client, now=now, expires_at=now + CODE_LIFETIME
        )
        await sms.SENDER.send(phone, f"您的验证码为 {code}，5 分钟内有效。如非本人操作，请忽略本短信。")
    return int(CODE_LIFETIME.total_seconds())


async def _take_code(phone: str, code: str) -> DomainError | None:
    """Inside the caller's transaction: use the phone's live code if `code` is it. A wrong guess is counted
    and returned (the caller raises it after committing, so the count stays); None when the code was right."""
    row = await repo.live_code_for_update(phone, clock.now())
    if row is None:
        return CodeInvalid()
    if row["attempts"] >= CODE_TRIES:
        return CodeExhausted()
    if not hmac.compare_digest(row["code_hash"], _code_hash(phone, code)):
        await repo.count_attempt(row["id"])
        left = CODE_TRIES - row["attempts"] - 1
        return CodeExhausted() if left <= 0 else CodeInvalid(detail={"field": "code", "tries_left": left})
    await repo.use_code(row["id"], clock.now())
    return None


# Residents -------------------------------------------------------------------------------------

ADDRESS_PART = re.compile(r"^[0-9A-Za-z\u4e00-\u9fff-]{1,20}$")


def resident_view(row: ResidentRow, *, unmasked: bool) -> ResidentView:
    return ResidentView(
        id=row.id,
        phone=row.phone if unmasked else mask_phone(row.phone),
        name=row.name,
        community_id=row.community_id,
        community_name=row.community_name,
        household_id=row.household_id,
        building=row.building,
        unit=row.unit,
        room=row.room,
        confirmed=row.confirmed,
        created_at=row.created_at,
    )


async def sign_up(
    *, phone: str, code: str, name: str, community_id: int, building: str, unit: str, room: str
) -> ResidentRow:
    community = await market_repo.get_community(community_id)
    if community is None:
        raise CommunityUnknown(detail={"field": "community_id"})
    username = f"resident_{secrets.token_hex(8)}"
    failure: DomainError | None = None
    async with transaction():
        failure = await _take_code(phone, code)
        if failure is None:
            if await repo.phone_exists(phone):
                raise PhoneTaken(detail={"field": "phone"})
            user = await accounts.create_user(
                None,
                username=username,
                password=secrets.token_urlsafe(32),  # never told to anyone: residents log in with codes
                email=f"{username}@residents.invalid",
                # The login names nobody: the audit log, kept for good, shows its actors by this name.
                display_name="居民",
                grants=[(Role.resident, community.org_id)],
            )
            now = clock.now()
            household_id = await repo.household_id(community_id, building, unit, room, now)
            resident_id = await repo.insert_resident(
                user_id=user.id, phone=phone, name=name, household_id=household_id, now=now
            )
            # The audit log is kept for good: it names ids, never the phone or the name.
            await audit.record(
                None,
                "resident.sign_up",
                "resident",
                resident_id,
                after={"household_id": household_id, "community_id": community_id, "user_id": user.id},
            )
    if failure is not None:
        raise failure
    created = await repo.resident_by_phone(phone)
    assert created is not None
    return created


async def log_in(phone: str, code: str) -> ResidentRow:
    failure: DomainError | None = None
    resident: ResidentRow | None = None
    async with transaction():
        failure = await _take_code(phone, code)
        if failure is None:
            resident = await repo.resident_by_phone(phone)
            if resident is None:
                raise NotRegistered(detail={"field": "phone"})
    if failure is not None or resident is None:
        raise failure or NotRegistered()
    return resident


async def me(principal: Principal) -> ResidentRow:
    resident = await repo.resident_by_user(principal.user_id)
    if resident is None:
        raise ResidentNotFound()
    return resident


async def export(principal: Principal) -> ResidentExport:
    resident = await me(principal)
    ballots = await repo.ballots_of_resident(resident.id)
    return ResidentExport(
        resident=resident_view(resident, unmasked=True),
        ballots=ballots,
        exported_at=clock.now(),
        survey_answers=await repo.answers_of_resident(resident.id),
    )


async def delete_account(principal: Principal) -> None:
    """The resident and their login go; their household's ballots stay, no longer linked to them."""
    async with transaction():
        resident = await me(principal)
        await repo.delete_resident(resident.id)
        retired = f"deleted_{secrets.token_hex(8)}"
        await repo.retire_user(resident.user_id, username=retired, email=f"{retired}@residents.invalid")
        await audit.record(
            principal,
            "resident.delete",
            "resident",
            resident.id,
            before={"household_id": resident.household_id, "community_id": resident.community_id},
            after={"deleted": True},
        )


async def list_residents(
    principal: Principal, *, community_id: int | None, limit: int, offset: int
) -> tuple[list[ResidentView], int]:
    rows, total = await with_total(
        lambda lim, off: repo.list_residents(
            patterns=like_patterns(principal.read_paths()), community_id=community_id, limit=lim, offset=off
        ),
        limit,
        offset,
    )
    return [resident_view(r, unmasked=principal.can_write_path(r.org_path, Role.street)) for r in rows], total


# Households ------------------------------------------------------------------------------------


async def list_households(
    principal: Principal, *, community_id: int | None, confirmed: bool | None, limit: int, offset: int
) -> tuple[list[HouseholdRow], int]:
    return await with_total(
        lambda lim, off: repo.list_households(
            patterns=like_patterns(principal.read_paths()),
            community_id=community_id,
            confirmed=confirmed,
            limit=lim,
            offset=off,
        ),
        limit,
        offset,
    )


async def confirm_household(principal: Principal, household_id: int, note: str) -> HouseholdRow:
    async with transaction():
        household = await repo.get_household(household_id, for_update=True)
        if household is None or not principal.can_read_path(household.org_path):
            raise HouseholdNotFound()
        if not principal.can_write_path(household.org_path, Role.street):
            raise NotCommunityStreet()
        if household.confirmed_at is None:
            await repo.confirm_household(household_id, principal.user_id, clock.now())
            await audit.record(
                principal,
                "household.confirm",
                "household",
                household_id,
                before={"confirmed": False},
                after={"confirmed": True},
                reason=note.strip() or "与街道住户名册核对一致",
            )
        confirmed = await repo.get_household(household_id)
    assert confirmed is not None
    return confirmed


REGISTER_HEADERS = ({"楼栋", "building"}, {"单元", "unit"}, {"室", "room", "房号", "室号"})


def register_rows(
    csv_text: str | None,
    xlsx_base64: str | None,
    *,
    what: str = "住户名册",
    invalid: type[DomainError] = RegisterInvalid,
) -> list[list[str]]:
    """The sheet's rows as text cells, from CSV text or from the first sheet of an Excel workbook (the register,
    or any other sheet: `what` names it in the error, raised as `invalid`)."""
    if (csv_text is None) == (xlsx_base64 is None):
        raise invalid(
            f"请提供{what}：CSV 文本或 Excel 工作簿，二者选一（字段 csv、xlsx_base64）", detail={"field": "csv"}
        )
    if csv_text is not None:
        return list(csv.reader(io.StringIO(csv_text.lstrip("\ufeff"))))
    try:
        workbook = openpyxl.load_workbook(
            io.BytesIO(base64.b64decode(xlsx_base64 or "", validate=True)), read_only=True
        )
        sheet = workbook.worksheets[0]
        return [[_cell_text(cell) for cell in row] for row in sheet.iter_rows(values_only=True)]
    except (ValueError, OSError, KeyError, IndexError, zipfile.BadZipFile) as exc:
        raise invalid(
            "Excel 工作簿无法读取：应为 .xlsx 文件的 base64（字段 xlsx_base64）", detail={"field": "xlsx_base64"}
        ) from exc


def _cell_text(value: object) -> str:
    """A cell as the text a person typed: 1201 stays 1201 though Excel stores it as 1201.0."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def parse_register(rows: list[list[str]]) -> tuple[list[tuple[str, str, str]], list[dict]]:
    """The register's addresses, and every problem by row (row 1 is the header), in Chinese."""
    errors: list[dict] = []
    if not rows or len(rows[0]) < 3 or any(rows[0][i].strip() not in REGISTER_HEADERS[i] for i in range(3)):
        return [], [{"row": 1, "field": "header", "message": "第 1 行应为表头：楼栋,单元,室"}]
    addresses: list[tuple[str, str, str]] = []
    seen: dict[tuple[str, str, str], int] = {}
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        while row and not row[-1].strip():  # a spreadsheet's empty trailing cells
            row = row[:-1]
        if len(row) != 3:
            errors.append({"row": number, "field": "row", "message": f"第 {number} 行应有 3 列（楼栋,单元,室）"})
            continue
        parts = tuple(cell.strip() for cell in row)
        bad = [label for label, part in zip(("楼栋", "单元", "室"), parts, strict=True) if not ADDRESS_PART.match(part)]
        if bad:
            errors.append(
                {
                    "row": number,
                    "field": bad[0],
                    "message": f"第 {number} 行{'、'.join(bad)}格式不正确（1 至 20 位数字、字母或汉字）",
                }
            )
            continue
        address = (parts[0], parts[1], parts[2])
        if address in seen:
            errors.append({"row": number, "field": "row", "message": f"第 {number} 行与第 {seen[address]} 行重复"})
            continue
        seen[address] = number
        addresses.append(address)
    if not addresses and not errors:
        errors.append({"row": 2, "field": "row", "message": "名册中没有住户"})
    return addresses, errors


async def import_register(
    principal: Principal, community_id: int, *, csv_text: str | None, xlsx_base64: str | None
) -> RegisterImported:
    """The street's register of households, all rows or none: each listed household confirmed."""
    community = await market_repo.get_community(community_id)
    if community is None or not principal.can_read_path(community.org_path):
        raise CommunityNotFound()
    if not principal.can_write_path(community.org_path, Role.street):
        raise NotCommunityStreet()
    addresses, errors = parse_register(register_rows(csv_text, xlsx_base64))
    if errors:
        raise RegisterInvalid(errors[0]["message"] + "；整份名册未导入", detail={"field": "csv", "errors": errors})
    async with transaction():
        rows, created = await repo.confirm_register(community_id, addresses, principal.user_id, clock.now())
        imported = RegisterImported(rows=len(addresses), confirmed=rows, created=created)
        await audit.record(
            principal,
            "household.register_import",
            "community",
            community_id,
            before={"confirmed_households": None},
            after=imported,
            reason="导入街道住户名册",
        )
    return imported


# Polls -----------------------------------------------------------------------------------------


def _score_parts(parts: list) -> list[dict]:
    return [asdict(p) for p in parts]


async def poll_options(
    principal: Principal, need: NeedRow, operator_ids: list[int], packages: list[dict]
) -> list[dict]:
    """The options of a poll on `need`: operators from its explained shortlist (each with its score parts, so
    residents see why it was suggested), then the named service packages."""
    options: list[dict] = []
    if operator_ids:
        found = await market.match_community(principal, need.community_id, 100)
        shortlisted = {s.operator_id: s for s in found.shortlist if need.category in s.covered}
        for operator_id in dict.fromkeys(operator_ids):
            score = shortlisted.get(operator_id)
            if score is None:
                raise OptionNotShortlisted(detail={"field": "operator_ids", "operator_id": operator_id})
            options.append(
                {
                    "kind": "operator",
                    "operator_id": operator_id,
                    "label": score.name,
                    "score_total": Decimal(str(round(score.total, 2))),
                    "score_parts": _score_parts(score.parts),
                }
            )
    options += [{"kind": "package", "label": p["name"], "description": p["description"]} for p in packages]
    if len(options) < 2:
        raise TooFewOptions(detail={"field": "operator_ids", "options": len(options)})
    return options


async def shortlisted_operators(principal: Principal, need: NeedRow) -> list[int]:
    found = await market.match_community(principal, need.community_id, 100)
    return [s.operator_id for s in found.shortlist if need.category in s.covered]


async def writable_need(principal: Principal, need_id: int) -> NeedRow:
    need = await market_repo.get_need(need_id)
    if need is None or not principal.can_read_path(need.org_path):
        raise NeedUnknown(detail={"field": "need_id"})
    if not principal.can_write_path(need.org_path, Role.street):
        raise NotCommunityStreet("只有社区所属街道可以发起居民投票")
    if need.status != "open":
        raise NeedNotOpen()
    return need


async def create_poll(
    principal: Principal,
    *,
    need_id: int,
    title: str,
    opens_at: datetime,
    closes_at: datetime,
    quorum: Decimal,
    operator_ids: list[int],
    packages: list[dict],
) -> int:
    need = await writable_need(principal, need_id)
    if not Decimal(0) < quorum <= Decimal(1):
        raise QuorumInvalid(detail={"field": "quorum"})
    now = clock.now()
    if closes_at <= opens_at or closes_at <= now:
        raise WindowInvalid(detail={"field": "closes_at"})
    options = await poll_options(principal, need, operator_ids, packages)
    async with transaction():
        return await insert_poll(principal, need, title, opens_at, closes_at, quorum, options, now)


async def insert_poll(
    principal: Principal,
    need: NeedRow,
    title: str,
    opens_at: datetime,
    closes_at: datetime,
    quorum: Decimal,
    options: list[dict],
    now: datetime,
) -> int:
    """Inside the caller's transaction: the poll, its options and the audit row."""
    poll_id = await repo.insert_poll(
        community_id=need.community_id,
        need_id=need.id,
        title=title,
        opens_at=opens_at,
        closes_at=closes_at,
        quorum=quorum,
        user_id=principal.user_id,
        now=now,
    )
    await repo.insert_options(poll_id, options)
    await audit.record(
        principal,
        "poll.open",
        "poll",
        poll_id,
        after={
            "need_id": need.id,
            "opens_at": opens_at,
            "closes_at": closes_at,
            "quorum": quorum,
            "options": [o["label"] for o in options],
        },
    )
    return poll_id


async def _readable_poll(principal: Principal, poll_id: int) -> tuple[PollRow, ResidentRow | None]:
    """The poll if the caller may see it: an official in scope, or a resident of its community."""
    poll = await repo.get_poll(poll_id)
    resident = await repo.resident_by_user(principal.user_id) if principal.has_role(Role.resident) else None
    if poll is None:
        raise PollNotFound()
    if principal.can_read_path(poll.org_path) or (resident is not None and resident.community_id == poll.community_id):
        return poll, resident
    raise PollNotFound()


async def get_poll(principal: Principal, poll_id: int) -> tuple[PollRow, list[OptionRow], int | None]:
    poll, resident = await _readable_poll(principal, poll_id)
    options = (await repo.options_of([poll_id]))[poll_id]
    mine = await repo.household_choice(poll_id, resident.household_id) if resident is not None else None
    return poll, options, mine


async def list_polls(
    principal: Principal, *, state: str | None, limit: int, offset: int
) -> tuple[list[PollRow], dict[int, list[OptionRow]], int]:
    official = principal.has_role(*OFFICIAL_ROLES, Role.auditor)
    resident = await repo.resident_by_user(principal.user_id) if principal.has_role(Role.resident) else None
    patterns = like_patterns(principal.read_paths()) if official else None
    communities = [resident.community_id] if resident is not None else None
    if patterns is None and communities is None:
        return [], {}, 0
    if patterns is not None and communities is not None:  # both hats: the union, by adding the community's path
        patterns = [*patterns, resident.org_path if resident else ""]
        communities = None
    rows, total = await with_total(
        lambda lim, off: repo.list_polls(
            patterns=patterns, community_ids=communities, state=state, limit=lim, offset=off
        ),
        limit,
        offset,
    )
    return rows, await repo.options_of([r.id for r in rows]), total


async def cast_ballot(principal: Principal, poll_id: int, option_id: int) -> BallotReceipt:
    """The household's ballot (a later one from the household replaces it while the poll is open)."""
    resident = await me(principal)
    receipt = secrets.token_urlsafe(12)
    async with transaction():
        poll = await repo.get_poll(poll_id, for_share=True)  # the closing job waits for ballots in flight
        if poll is None or poll.community_id != resident.community_id:
            raise PollNotFound()
        now = clock.now()
        if poll.state != "open" or not poll.opens_at <= now < poll.closes_at:
            raise PollNotOpen(detail={"opens_at": poll.opens_at, "closes_at": poll.closes_at})
        if not resident.confirmed:
            raise HouseholdUnconfirmed()
        options = (await repo.options_of([poll_id]))[poll_id]
        if option_id not in {o.id for o in options}:
            raise OptionUnknown(detail={"field": "option_id"})
        cast_at = await repo.upsert_ballot(
            poll_id=poll_id,
            household_id=resident.household_id,
            option_id=option_id,
            resident_id=resident.id,
            receipt_hash=_receipt_hash(receipt),
            now=now,
        )
        # Once per poll and household: a changed ballot earns nothing more.
        await _award(resident, "ballot", poll_id, get_settings().points_for_ballot, f"参与居民投票：{poll.title}")
    return BallotReceipt(poll_id=poll_id, receipt=receipt, cast_at=cast_at)


def _receipt_hash(receipt: str) -> str:
    # A receipt holds 96 random bits: a plain hash cannot be reversed by trying them.
    return hashlib.sha256(receipt.encode()).hexdigest()


async def check_receipt(receipt: str, principal: Principal | None) -> ReceiptCheck:
    """Counted or not, for anyone; the option only to the resident who cast the ballot."""
    ballot = await repo.ballot_by_receipt(_receipt_hash(receipt))
    if ballot is None:
        raise ReceiptNotFound()
    check = ReceiptCheck(poll_id=ballot["poll_id"], counted=True)
    if principal is not None:
        resident = await repo.resident_by_user(principal.user_id)
        if resident is not None and ballot["resident_id"] == resident.id:
            check.option_id, check.option_label = ballot["option_id"], ballot["option_label"]
    return check


async def close_due_polls() -> dict:
    """Close every poll whose window has ended, once each however many closers run: the result (votes per
    option, turnout, quorum) is written with the transition, and published."""
    now = clock.now()
    closed = 0
    for poll_id in await repo.due_poll_ids(now):
        async with transaction():
            claimed = await repo.claim_closing(poll_id, now)
            if claimed is None:
                continue  # another closer got there first
            options = (await repo.options_of([poll_id]))[poll_id]
            counts = await repo.vote_counts(poll_id)
            households = await repo.confirmed_households(claimed["community"])
            result = tally([o.id for o in options], counts, households, Decimal(claimed["quorum"]))
            await repo.store_result(poll_id, result)
            winner = next((o for o in options if o.id == result["winner_option_id"]), None)
            # On the need too, in this transaction: allocation and signing in market follow it from there.
            await market.record_vote_result(
                claimed["need"],
                poll_id=poll_id,
                quorum_met=result["quorum_met"],
                winner_operator_id=winner.operator_id if winner is not None else None,
                winner_label=winner.label if winner is not None else "",
            )
            await audit.record(None, "poll.close", "poll", poll_id, after=result)
        closed += 1
    return {"closed": closed}


async def result(poll_id: int) -> PollResult:
    poll = await repo.get_poll(poll_id)
    if poll is None:
        raise PollNotFound()
    if poll.state != "closed" or not poll.result or poll.closed_at is None:
        raise PollNotClosed(detail={"closes_at": poll.closes_at})
    options = (await repo.options_of([poll_id]))[poll_id]
    counted = poll.result
    need = await market_repo.get_need(poll.need_id)
    decision = None
    if need is not None and need.vote_poll_id == poll.id and need.vote_decided_at is not None:
        named = next(
            (
                o
                for o in options
                if (o.operator_id is not None and o.operator_id == need.vote_decision_operator_id)
                or (
                    o.operator_id is None
                    and need.vote_decision_operator_id is None
                    and o.label == need.vote_decision_label
                )
            ),
            None,
        )
        decision = PollDecision(
            follows=bool(need.vote_decision_follows),
            option_id=named.id if named is not None else None,
            operator_id=need.vote_decision_operator_id,
            label=need.vote_decision_label,
            reason=need.vote_decision_reason,
            decided_at=need.vote_decided_at,
        )
    return PollResult(
        poll_id=poll.id,
        title=poll.title,
        community_name=poll.community_name,
        voting="单选（每户一票）",
        closed_at=poll.closed_at,
        ballots=counted["ballots"],
        confirmed_households=counted["confirmed_households"],
        turnout=Decimal(counted["turnout"]),
        quorum=poll.quorum,
        quorum_met=counted["quorum_met"],
        winner_option_id=counted["winner_option_id"],
        options=[
            OptionCount(
                option_id=o.id,
                label=o.label,
                kind=o.kind,
                operator_id=o.operator_id,
                score_total=o.score_total,
                score_parts=o.score_parts,
                votes=counted["votes"].get(str(o.id), 0),
            )
            for o in options
        ],
        decision=decision,
    )


async def decide(
    principal: Principal, poll_id: int, *, follows: bool, option_id: int | None, reason: str
) -> PollResult:
    """The street's follow-up: follow the winner, or deviate with a written reason (shown with the result)."""
    poll = await repo.get_poll(poll_id)
    if poll is None or not principal.can_read_path(poll.org_path):
        raise PollNotFound()
    if not principal.can_write_path(poll.org_path, Role.street):
        raise NotCommunityStreet("只有社区所属街道可以登记采纳决定")
    if poll.state != "closed" or not poll.result:
        raise PollNotClosed()
    winner = poll.result["winner_option_id"]
    options = {o.id: o for o in (await repo.options_of([poll_id]))[poll_id]}
    if follows:
        if winner is None:
            raise DeviationNeedsReason("投票没有产生唯一的最多票选项，只能另作决定并填写书面理由（字段 follows）")
        option_id, reason = winner, reason.strip() or "采纳投票结果"
    else:
        if not reason.strip():
            raise DeviationNeedsReason(detail={"field": "reason"})
        reason = require_reason(reason)
        if option_id is not None and option_id not in options:
            raise OptionUnknown(detail={"field": "option_id"})
    chosen = options.get(option_id) if option_id is not None else None
    async with transaction():
        # One decision per vote, kept on the need: a contract signed for the need may have recorded it already.
        if not await market.record_vote_decision(
            principal,
            poll.need_id,
            poll_id=poll_id,
            follows=follows,
            operator_id=chosen.operator_id if chosen is not None else None,
            label=chosen.label if chosen is not None else "",
            reason=reason,
        ):
            raise AlreadyDecided()
        await audit.record(
            principal,
            "poll.decide",
            "poll",
            poll_id,
            before={"winner_option_id": winner, "decided": False},
            after={"follows": follows, "option_id": option_id},
            reason=reason,
        )
    return await result(poll_id)


# Points and the time bank ----------------------------------------------------------------------
#
# Every movement is a posting between two accounts of the ledger (residents/points.py says how they add up).
# Postings carry an idempotency key named after their source, so a source posts once however often it is
# offered; an overdraft fails on the account's CHECK and is answered as a 409.

SOURCE_MEMOS = {
    "ballot": "参与居民投票",
    "survey": "参与满意度测评",
    "activity": "志愿服务",
    "redemption": "兑换服务",
    "refund": "取消兑换，积分退回",
    "payout": "服务已确认，社区结算",
    "expiry": "积分过期",
    "withdrawal": "时间银行支取（为本人提供服务）",
    "transfer": "时间银行转赠",
}


def _overdrawn(exc: asyncpg.CheckViolationError) -> bool:
    return getattr(exc, "constraint_name", "") == "points_account_not_negative"


async def _award(resident: ResidentRow, source_kind: str, source_id: int, points: int, memo: str) -> bool:
    """Points from the community pool to the resident, once per household and source. Caller's transaction."""
    if points <= 0:
        return False
    now = clock.now()
    pool = await repo.account_id("pool", resident.community_id, now)
    mine = await repo.account_id("resident", resident.community_id, now, resident_id=resident.id)
    _, created = await repo.post(
        from_account=pool,
        to_account=mine,
        unit="points",
        amount=points,
        source_kind=source_kind,
        source_id=source_id,
        key=f"{source_kind}:{source_id}:household:{resident.household_id}",
        memo=memo,
        now=now,
    )
    return created


async def award_participation(resident_id: int, source_kind: str, source_id: int, points: int) -> bool:
    """For taking part (a survey answer, a ballot): `points` to the resident, once per household and source
    (`source_kind`, `source_id`). Joins the caller's transaction, if any. Whether it posted."""
    resident = await repo.resident_by_id(resident_id)
    if resident is None:
        raise ResidentNotFound()
    async with transaction():
        return await _award(resident, source_kind, source_id, points, SOURCE_MEMOS.get(source_kind, source_kind))


async def balances(principal: Principal) -> Balances:
    resident = await me(principal)
    points, hours = await repo.resident_balances(resident.id)
    months = get_settings().points_expire_months
    return Balances(
        resident_id=resident.id,
        points=int(points),
        hours=hours,
        note=f"积分自获得起 {months} 个月后按先进先出过期；时间银行时长不过期",
    )


def _month_bounds(month: str) -> tuple[date, datetime, datetime]:
    try:
        first = date.fromisoformat(f"{month}-01")
    except ValueError as exc:
        raise StatementMonthInvalid(detail={"field": "month"}) from exc
    if first > clock.month_start(clock.today()):
        raise StatementMonthInvalid(detail={"field": "month"})
    start = datetime.combine(first, time(0), tzinfo=clock.BUSINESS_TZ)
    end = datetime.combine(clock.add_months(first, 1), time(0), tzinfo=clock.BUSINESS_TZ)
    return first, start, end


async def statement(principal: Principal, month: str, unit: str) -> Statement:
    """The resident's own month: opening balance, postings in [start, end) Asia/Shanghai, closing balance."""
    resident = await me(principal)
    first, start, end = _month_bounds(month)
    account = await repo.resident_account(resident.id, "resident" if unit == "points" else "time")
    if account is None:
        return Statement(month=f"{first:%Y-%m}", unit=unit, opening=Decimal(0), closing=Decimal(0), lines=[])
    opening = await repo.opening_balance(account, start)
    rows = await repo.postings_between(account, start, end)
    running, closing = statement_lines(opening, [(r["at"], r["amount"]) for r in rows])
    return Statement(
        month=f"{first:%Y-%m}",
        unit=unit,
        opening=opening,
        closing=closing,
        lines=[
            StatementLine(
                at=r["at"],
                amount=r["amount"],
                balance=balance,
                source_kind=r["source_kind"],
                source_id=r["source_id"],
                memo=r["memo"],
            )
            for r, balance in zip(rows, running, strict=True)
        ],
    )


# Volunteer activities: posted by the street office, hours confirmed by the office.


async def create_activity(principal: Principal, fields: dict) -> ActivityRow:
    community = await market_repo.get_community(fields["community_id"])
    if community is None or not principal.can_read_path(community.org_path):
        raise CommunityUnknown(detail={"field": "community_id"})
    if not principal.can_write_path(community.org_path, Role.street):
        raise NotCommunityStreet("只有社区所属街道可以发布志愿活动")
    if fields["ends_at"] <= fields["starts_at"]:
        raise ActivityWindowInvalid(detail={"field": "ends_at"})
    priced = (fields["points_per_hour"] is not None) + (fields["fixed_points"] is not None)
    if (fields["kind"] == "ordinary" and priced != 1) or (fields["kind"] == "elderly_care" and priced != 0):
        raise ActivityInvalid(detail={"field": "points_per_hour"})
    async with transaction():
        activity_id = await repo.insert_activity(fields, user_id=principal.user_id, now=clock.now())
        await audit.record(principal, "points.activity_create", "points_activity", activity_id, after=fields)
        created = await repo.get_activity(activity_id)
    assert created is not None
    return created


async def list_activities(principal: Principal, *, limit: int, offset: int) -> tuple[list[ActivityView], int]:
    official = principal.has_role(*OFFICIAL_ROLES, Role.auditor)
    resident = await repo.resident_by_user(principal.user_id) if principal.has_role(Role.resident) else None
    patterns = like_patterns(principal.read_paths()) if official else None
    communities = [resident.community_id] if resident is not None else None
    if patterns is None and communities is None:
        return [], 0
    if patterns is not None and communities is not None and resident is not None:
        patterns, communities = [*patterns, resident.org_path], None
    rows, total = await with_total(
        lambda lim, off: repo.list_activities(patterns=patterns, community_ids=communities, limit=lim, offset=off),
        limit,
        offset,
    )
    ids = [r.id for r in rows]
    signups = await repo.signups_of(ids) if official else {}
    mine = await repo.my_signups(resident.id, ids) if resident is not None else {}
    views = []
    for r in rows:
        listed = None
        if official and principal.can_read_path(r.org_path):
            unmasked = principal.can_write_path(r.org_path, Role.street)
            listed = [
                s if unmasked else msgspec.structs.replace(s, resident_phone=mask_phone(s.resident_phone))
                for s in signups.get(r.id, [])
            ]
        views.append(
            ActivityView(
                id=r.id,
                community_id=r.community_id,
                community_name=r.community_name,
                title=r.title,
                kind=r.kind,
                starts_at=r.starts_at,
                ends_at=r.ends_at,
                points_per_hour=r.points_per_hour,
                fixed_points=r.fixed_points,
                signups=listed,
                my_signup_id=mine.get(r.id),
            )
        )
    return views, total


async def sign_up_for_activity(principal: Principal, activity_id: int) -> SignupView:
    resident = await me(principal)
    activity = await repo.get_activity(activity_id)
    if activity is None or activity.community_id != resident.community_id:
        raise ActivityNotFound()
    if activity.ends_at <= clock.now():
        raise ActivityOver()
    async with transaction():
        signup_id = await repo.insert_signup(activity_id, resident.id, clock.now())
        if signup_id is None:
            raise AlreadySignedUp()
    return await repo.get_signup_view(signup_id)


async def confirm_hours(principal: Principal, signup_id: int, hours: Decimal, note: str) -> SignupView:
    """The street confirms the hours served: points (ordinary) or time-bank hours (elderly care), once."""
    if not is_quarter_hours(hours) or hours > 24:
        raise HoursInvalid(detail={"field": "hours"})
    async with transaction():
        signup = await repo.get_signup(signup_id, for_update=True)
        activity = await repo.get_activity(signup["activity_id"]) if signup else None
        if signup is None or activity is None or not principal.can_read_path(activity.org_path):
            raise SignupNotFound()
        if not principal.can_write_path(activity.org_path, Role.street):
            raise NotCommunityStreet("只有社区所属街道可以确认志愿服务时长")
        if signup["confirmed_at"] is not None:
            raise SignupConfirmed()
        now = clock.now()
        community = signup["resident_community"]
        if activity.kind == "elderly_care":
            awarded = hours
            source = await repo.account_id("time_pool", community, now)
            target = await repo.account_id("time", community, now, resident_id=signup["resident_id"])
            unit = "hours"
        else:
            awarded = Decimal(
                activity_award(hours, points_per_hour=activity.points_per_hour, fixed_points=activity.fixed_points)
            )
            source = await repo.account_id("pool", community, now)
            target = await repo.account_id("resident", community, now, resident_id=signup["resident_id"])
            unit = "points"
        await repo.post(
            from_account=source,
            to_account=target,
            unit=unit,
            amount=awarded,
            source_kind="activity",
            source_id=signup_id,
            key=f"activity:{signup_id}",
            memo=f"{SOURCE_MEMOS['activity']}：{activity.title}",
            now=now,
        )
        await repo.confirm_signup(signup_id, hours=hours, awarded=awarded, user_id=principal.user_id, now=now)
        await audit.record(
            principal,
            "points.hours_confirm",
            "points_signup",
            signup_id,
            before={"confirmed": False},
            after={"hours": hours, "awarded": awarded, "unit": unit, "activity_id": activity.id},
            reason=note.strip() or "街道确认志愿服务时长",
        )
    return await repo.get_signup_view(signup_id)


# Point-priced services: published by operators, redeemed by residents, paid out by the community.


def service_view(row: ServiceRow) -> ServiceView:
    return ServiceView(
        id=row.id,
        community_id=row.community_id,
        community_name=row.community_name,
        operator_id=row.operator_id,
        operator_name=row.operator_name,
        title=row.title,
        description=row.description,
        price_points=row.price_points,
        capacity=row.capacity,
        remaining=row.capacity - row.redeemed,
        opens_at=row.opens_at,
        closes_at=row.closes_at,
    )


async def publish_service(principal: Principal, fields: dict) -> ServiceRow:
    community = await market_repo.get_community(fields["community_id"])
    if community is None:
        raise CommunityUnknown(detail={"field": "community_id"})
    org_ids = principal.org_ids(Role.operator)
    operator_id = await repo.operator_of_orgs(org_ids)
    if operator_id is None or not await market_repo.operator_has_contract(community.id, org_ids):
        raise NoContractInCommunity(detail={"field": "community_id"})
    if fields["closes_at"] <= fields["opens_at"] or fields["closes_at"] <= clock.now():
        raise ServiceInvalid(detail={"field": "closes_at"})
    async with transaction():
        service_id = await repo.insert_service(
            fields, operator_id=operator_id, user_id=principal.user_id, now=clock.now()
        )
        await audit.record(principal, "points.service_publish", "points_service", service_id, after=fields)
        created = await repo.get_service(service_id)
    assert created is not None
    return created


async def list_services(principal: Principal, *, limit: int, offset: int) -> tuple[list[ServiceView], int]:
    official = principal.has_role(*OFFICIAL_ROLES, Role.auditor)
    resident = await repo.resident_by_user(principal.user_id) if principal.has_role(Role.resident) else None
    operators = principal.org_ids(Role.operator) or None
    patterns = like_patterns(principal.read_paths()) if official else None
    communities = [resident.community_id] if resident is not None else None
    if patterns is None and communities is None and operators is None:
        return [], 0
    rows, total = await with_total(
        lambda lim, off: repo.list_services(
            patterns=patterns,
            community_ids=communities,
            operator_org_ids=operators,
            open_at=clock.now(),
            limit=lim,
            offset=off,
        ),
        limit,
        offset,
    )
    return [service_view(r) for r in rows], total


def redemption_view(row: RedemptionRow, *, masked: bool) -> RedemptionView:
    who = row.resident_name if not masked else f"{row.resident_name[:1]}* {mask_phone(row.resident_phone)}"
    return RedemptionView(
        id=row.id,
        service_id=row.service_id,
        service_title=row.service_title,
        community_id=row.community_id,
        operator_name=row.operator_name,
        resident=who if row.resident_phone else row.resident_name,
        points=row.points,
        payout_fen=payout_fen(row.points, row.fen_per_point),
        state=row.state,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
        cancelled_at=row.cancelled_at,
    )


async def redeem(principal: Principal, service_id: int) -> RedemptionView:
    """The resident's points move to the operator's clearing account for one place of the service."""
    resident = await me(principal)
    service = await repo.get_service(service_id)
    if service is None or service.community_id != resident.community_id:
        raise ServiceNotFound()
    fen_per_point = get_settings().points_fen_per_point
    try:
        async with transaction():
            now = clock.now()
            if not await repo.take_place(service_id, now):
                raise ServiceUnavailable(detail={"field": "service_id"})
            redemption_id = await repo.insert_redemption(
                service_id, resident.id, service.price_points, fen_per_point, now
            )
            mine = await repo.account_id("resident", resident.community_id, now, resident_id=resident.id)
            clearing = await repo.account_id("clearing", service.community_id, now, operator_id=service.operator_id)
            await repo.post(
                from_account=mine,
                to_account=clearing,
                unit="points",
                amount=service.price_points,
                source_kind="redemption",
                source_id=redemption_id,
                key=f"redemption:{redemption_id}",
                memo=f"{SOURCE_MEMOS['redemption']}：{service.title}",
                now=now,
            )
            await audit.record(
                principal,
                "points.redeem",
                "points_redemption",
                redemption_id,
                after={"service_id": service_id, "points": service.price_points},
            )
    except asyncpg.CheckViolationError as exc:
        if not _overdrawn(exc):
            raise
        raise InsufficientPoints(detail={"field": "service_id", "price_points": service.price_points}) from exc
    row = await repo.get_redemption(redemption_id)
    assert row is not None
    return redemption_view(row, masked=False)


async def list_redemptions(
    principal: Principal, *, state: str | None, limit: int, offset: int
) -> tuple[list[RedemptionView], int]:
    """An operator's redemptions to deliver (residents masked), or a resident's own."""
    operators = principal.org_ids(Role.operator) or None
    resident = await repo.resident_by_user(principal.user_id) if principal.has_role(Role.resident) else None
    if operators is None and resident is None:
        return [], 0
    rows, total = await with_total(
        lambda lim, off: repo.list_redemptions(
            operator_org_ids=operators,
            resident_id=resident.id if resident else None,
            state=state,
            limit=lim,
            offset=off,
        ),
        limit,
        offset,
    )
    return [redemption_view(r, masked=resident is None or r.resident_id != resident.id) for r in rows], total


async def deliver(principal: Principal, redemption_id: int) -> RedemptionView:
    """The operator confirms the service was given: its points go back to the community pool and the
    community's ledger records one cost for it, at the published rate per point."""
    async with transaction():
        row = await repo.get_redemption(redemption_id, for_update=True)
        if row is None or row.operator_org_id not in principal.org_ids(Role.operator):
            raise RedemptionNotFound()
        if row.state != "redeemed":
            raise RedemptionSettled(detail={"state": row.state})
        now = clock.now()
        await repo.settle_redemption(redemption_id, "delivered", user_id=principal.user_id, now=now)
        clearing = await repo.account_id("clearing", row.community_id, now, operator_id=row.operator_id)
        pool = await repo.account_id("pool", row.community_id, now)
        await repo.post(
            from_account=clearing,
            to_account=pool,
            unit="points",
            amount=row.points,
            source_kind="payout",
            source_id=redemption_id,
            key=f"payout:{redemption_id}",
            memo=f"{SOURCE_MEMOS['payout']}：{row.service_title}",
            now=now,
        )
        fen = payout_fen(row.points, row.fen_per_point)
        if fen > 0:
            await market.post_points_payout(
                row.community_id, row.operator_id, fen, redemption_id, f"：{row.service_title} {row.points} 积分"
            )
        await audit.record(
            principal,
            "points.redemption_deliver",
            "points_redemption",
            redemption_id,
            before={"state": "redeemed"},
            after={"state": "delivered", "points": row.points, "payout_fen": fen},
        )
    done = await repo.get_redemption(redemption_id)
    assert done is not None
    return redemption_view(done, masked=True)


async def cancel_redemption(principal: Principal, redemption_id: int) -> RedemptionView:
    """The resident cancels before the service is given: the points come back and the place is freed."""
    resident = await me(principal)
    async with transaction():
        row = await repo.get_redemption(redemption_id, for_update=True)
        if row is None or row.resident_id != resident.id:
            raise RedemptionNotFound()
        if row.state != "redeemed":
            raise RedemptionSettled(detail={"state": row.state})
        now = clock.now()
        await repo.settle_redemption(redemption_id, "cancelled", user_id=None, now=now)
        await repo.give_back_place(row.service_id)
        clearing = await repo.account_id("clearing", row.community_id, now, operator_id=row.operator_id)
        mine = await repo.account_id("resident", resident.community_id, now, resident_id=resident.id)
        await repo.post(
            from_account=clearing,
            to_account=mine,
            unit="points",
            amount=row.points,
            source_kind="refund",
            source_id=redemption_id,
            key=f"refund:{redemption_id}",
            memo=f"{SOURCE_MEMOS['refund']}：{row.service_title}",
            now=now,
        )
        await audit.record(
            principal,
            "points.redemption_cancel",
            "points_redemption",
            redemption_id,
            before={"state": "redeemed"},
            after={"state": "cancelled", "points": row.points},
        )
    done = await repo.get_redemption(redemption_id)
    assert done is not None
    return redemption_view(done, masked=False)


async def community_points(principal: Principal, community_id: int) -> CommunityPoints:
    """Aggregates only: officials see no resident's balance."""
    community = await market_repo.get_community(community_id)
    if community is None or not principal.can_read_path(community.org_path):
        raise CommunityNotFound()
    totals = await repo.community_points(community_id)
    return CommunityPoints(
        community_id=community_id,
        community_name=community.name,
        issued=int(totals["issued"]),
        redeemed=int(totals["redeemed"]),
        paid_out_points=int(totals["paid_out_points"]),
        paid_out_fen=int(totals["paid_out_fen"]),
        expired=int(totals["expired"]),
        outstanding=int(totals["outstanding"]),
        hours_issued=totals["hours_issued"],
        hours_withdrawn=totals["hours_withdrawn"],
        hours_outstanding=totals["hours_outstanding"],
    )


# Time bank: hours of elderly care, withdrawn as care for oneself or given to family in the same city.


def withdrawal_view(row: WithdrawalRow, *, unmasked: bool) -> WithdrawalView:
    return WithdrawalView(
        id=row.id,
        resident_id=row.resident_id,
        resident_name=row.resident_name,
        resident_phone=row.resident_phone if unmasked else mask_phone(row.resident_phone),
        community_id=row.community_id,
        hours=row.hours,
        note=row.note,
        state=row.state,
        created_at=row.created_at,
        confirmed_at=row.confirmed_at,
    )


async def request_withdrawal(principal: Principal, hours: Decimal, note: str) -> WithdrawalView:
    resident = await me(principal)
    if not is_quarter_hours(hours):
        raise HoursInvalid(detail={"field": "hours"})
    _, held = await repo.resident_balances(resident.id)
    if held < hours:
        raise InsufficientHours(detail={"field": "hours", "balance": held})
    async with transaction():
        withdrawal_id = await repo.insert_withdrawal(resident.id, resident.community_id, hours, note, clock.now())
        await audit.record(
            principal, "timebank.withdrawal_request", "timebank_withdrawal", withdrawal_id, after={"hours": hours}
        )
    row = await repo.get_withdrawal(withdrawal_id)
    assert row is not None
    return withdrawal_view(row, unmasked=True)


async def list_withdrawals(principal: Principal, *, limit: int, offset: int) -> tuple[list[WithdrawalView], int]:
    official = principal.has_role(*OFFICIAL_ROLES, Role.auditor)
    resident = await repo.resident_by_user(principal.user_id) if principal.has_role(Role.resident) else None
    patterns = like_patterns(principal.read_paths()) if official else None
    if patterns is None and resident is None:
        return [], 0
    rows, total = await with_total(
        lambda lim, off: repo.list_withdrawals(
            patterns=patterns, resident_id=resident.id if resident else None, limit=lim, offset=off
        ),
        limit,
        offset,
    )
    return [
        withdrawal_view(
            r,
            unmasked=(resident is not None and r.resident_id == resident.id)
            or principal.can_write_path(r.org_path, Role.street),
        )
        for r in rows
    ], total


async def confirm_withdrawal(principal: Principal, withdrawal_id: int, note: str) -> WithdrawalView:
    """The street confirms the care was given: the hours leave the resident's time-bank account, once."""
    try:
        async with transaction():
            row = await repo.get_withdrawal(withdrawal_id, for_update=True)
            if row is None or not principal.can_read_path(row.org_path):
                raise WithdrawalNotFound()
            if not principal.can_write_path(row.org_path, Role.street):
                raise NotCommunityStreet("只有社区所属街道可以确认时间银行支取")
            if row.state != "requested":
                raise WithdrawalConfirmed()
            now = clock.now()
            mine = await repo.account_id("time", row.community_id, now, resident_id=row.resident_id)
            used = await repo.account_id("time_used", row.community_id, now)
            await repo.post(
                from_account=mine,
                to_account=used,
                unit="hours",
                amount=row.hours,
                source_kind="withdrawal",
                source_id=withdrawal_id,
                key=f"withdrawal:{withdrawal_id}",
                memo=SOURCE_MEMOS["withdrawal"],
                now=now,
            )
            await repo.confirm_withdrawal(withdrawal_id, principal.user_id, now)
            await audit.record(
                principal,
                "timebank.withdrawal_confirm",
                "timebank_withdrawal",
                withdrawal_id,
                before={"state": "requested"},
                after={"state": "confirmed", "hours": row.hours},
                reason=note.strip() or "已为居民提供服务",
            )
    except asyncpg.CheckViolationError as exc:
        if not _overdrawn(exc):
            raise
        raise InsufficientHours(detail={"field": "hours"}) from exc
    done = await repo.get_withdrawal(withdrawal_id)
    assert done is not None
    return withdrawal_view(done, unmasked=True)


def _city_of(org_path: str) -> str:
    """The city node of an org path (/city/district/street/community/)."""
    return org_path.strip("/").split("/")[0]


async def transfer_hours(principal: Principal, recipient_phone: str, hours: Decimal, request_id: str) -> TransferDone:
    """Hours to a family member who is a resident in the same city; a repeated request_id moves them once."""
    resident = await me(principal)
    if not is_quarter_hours(hours):
        raise HoursInvalid(detail={"field": "hours"})
    recipient = await repo.resident_by_phone(recipient_phone)
    if recipient is None or recipient.id == resident.id or _city_of(recipient.org_path) != _city_of(resident.org_path):
        raise RecipientUnknown(detail={"field": "recipient_phone"})
    try:
        async with transaction():
            now = clock.now()
            mine = await repo.account_id("time", resident.community_id, now, resident_id=resident.id)
            theirs = await repo.account_id("time", recipient.community_id, now, resident_id=recipient.id)
            _, created = await repo.post(
                from_account=mine,
                to_account=theirs,
                unit="hours",
                amount=hours,
                source_kind="transfer",
                source_id=recipient.id,
                key=f"transfer:{resident.id}:{request_id}",
                memo=SOURCE_MEMOS["transfer"],
                now=now,
            )
            if created:
                await audit.record(
                    principal,
                    "timebank.transfer",
                    "resident",
                    resident.id,
                    after={"to_resident_id": recipient.id, "hours": hours},
                )
    except asyncpg.CheckViolationError as exc:
        if not _overdrawn(exc):
            raise
        raise InsufficientHours(detail={"field": "hours"}) from exc
    _, left = await repo.resident_balances(resident.id)
    return TransferDone(hours=hours, recipient=mask_phone(recipient.phone), balance=left)


async def expire_points(month: date) -> dict:
    """Points earned before (the end of `month` − POINTS_EXPIRE_MONTHS) and not spent since expire, first in
    first out; once per account and month, however often the job runs."""
    end = clock.add_months(month, 1)
    cutoff_day = clock.add_months(end, -get_settings().points_expire_months)
    cutoff = datetime.combine(cutoff_day, time(0), tzinfo=clock.BUSINESS_TZ)
    accounts, expired = 0, 0
    for row in await repo.accounts_earning_before(cutoff):
        async with transaction():
            await repo.lock_account(row["id"])  # a redemption in flight waits, and is then seen
            amount = expiring_points(await repo.movements(row["id"]), cutoff)
            if amount <= 0:
                continue
            sink = await repo.account_id("expired", row["community"], clock.now())
            _, created = await repo.post(
                from_account=row["id"],
                to_account=sink,
                unit="points",
                amount=amount,
                source_kind="expiry",
                source_id=row["id"],
                key=f"expiry:{row['id']}:{month:%Y-%m}",
                memo=f"{SOURCE_MEMOS['expiry']}（{cutoff_day:%Y-%m-%d} 前获得）",
                now=clock.now(),
            )
        if created:
            accounts += 1
            expired += amount
    return {"accounts": accounts, "expired_points": expired}


# Satisfaction surveys --------------------------------------------------------------------------


def quarter_of(day: date) -> tuple[date, date]:
    """The half-open quarter [start, end) that `day` falls in."""
    start = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    return start, clock.add_months(start, 3)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=clock.BUSINESS_TZ)


async def open_quarter_surveys(day: date | None = None) -> dict:
    """A survey for the quarter of `day` (today) of every service contract in force that day, open over the
    quarter: once per contract and quarter, however often and by however many schedulers this runs."""
    day = day or clock.today()
    start, end = quarter_of(day)
    async with transaction():
        created = await repo.open_surveys(
            day=day,
            period_start=start,
            period_end=end,
            opens_at=_midnight(start),
            closes_at=_midnight(end),
            now=clock.now(),
        )
        await audit.record_many(
            None,
            "survey.open",
            "survey",
            [
                (r["id"], {"contract_id": r["contract"], "community_id": r["community"], "period_start": start})
                for r in created
            ],
        )
    return {"opened": len(created)}


async def close_due_surveys() -> dict:
    """Close every survey whose window has ended, once each however many closers run: the satisfaction rate
    with its counts, online, offline and combined, written with the transition."""
    now = clock.now()
    closed = 0
    for survey_id in await repo.due_survey_ids(now):
        async with transaction():
            if await repo.lock_survey_for_closing(survey_id) != "open":
                continue  # another closer got there first
            online, offline = await repo.tallies(survey_id)
            outcome = satisfaction.result(online, offline)
            if await repo.claim_survey_closing(survey_id, now, outcome) is None:
                continue
            await audit.record(None, "survey.close", "survey", survey_id, after=outcome)
        closed += 1
    return {"closed": closed}


async def satisfaction_by_contract(quarter: date) -> dict[int, Decimal]:
    """The combined satisfaction rate (percent) of each contract's closed survey of the quarter starting
    `quarter`, for the contracts' quarterly evaluations."""
    return {contract_id: Decimal(r) for contract_id, r in (await repo.closed_satisfaction(quarter)).items()}


def _aggregate_paths(principal: Principal) -> list[str]:
    """Where the caller sees surveys' counts: an official's or auditor's scope, and a surveyor's district."""
    return fold_paths([*principal.read_paths(), *(g.org_path for g in principal.grants if g.role == Role.surveyor)])


def _survey_view(survey: SurveyRow, *, result: dict | None = None, mine: SurveyAnswerView | None = None) -> SurveyView:
    return SurveyView(
        id=survey.id,
        contract_id=survey.contract_id,
        community_id=survey.community_id,
        community_name=survey.community_name,
        operator_id=survey.operator_id,
        operator_name=survey.operator_name,
        period_start=survey.period_start,
        period_end=survey.period_end,
        opens_at=survey.opens_at,
        closes_at=survey.closes_at,
        state=survey.state,
        questions=satisfaction.ASPECT_LABELS,
        result=result if result is not None else survey.result,
        my_answer=mine,
    )


async def get_survey(principal: Principal, survey_id: int) -> SurveyView:
    """Officials and surveyors in scope: the counts (so far, while open); a resident of the community: the
    questionnaire and their household's answer."""
    survey = await repo.get_survey(survey_id)
    if survey is None:
        raise SurveyNotFound()
    if path_in_scope(survey.org_path, _aggregate_paths(principal)):
        live = None
        if survey.state == "open":
            online, offline = await repo.tallies(survey_id)
            live = satisfaction.result(online, offline)
        return _survey_view(survey, result=live)
    resident = await repo.resident_by_user(principal.user_id) if principal.has_role(Role.resident) else None
    if resident is not None and resident.community_id == survey.community_id:
        return _survey_view(survey, mine=await repo.household_answer(survey_id, resident.household_id))
    raise SurveyNotFound()


async def list_surveys(
    principal: Principal, *, state: str | None, limit: int, offset: int
) -> tuple[list[SurveyView], int]:
    paths = _aggregate_paths(principal)
    resident = await repo.resident_by_user(principal.user_id) if principal.has_role(Role.resident) else None
    patterns = like_patterns(paths) if paths else None
    communities = [resident.community_id] if resident is not None else None
    if patterns is None and communities is None:
        return [], 0
    if patterns is not None and resident is not None:  # both hats: the union, by adding the community's path
        patterns, communities = [*patterns, resident.org_path], None
    rows, total = await with_total(
        lambda lim, off: repo.list_surveys(
            patterns=patterns, community_ids=communities, state=state, limit=lim, offset=off
        ),
        limit,
        offset,
    )
    return [_survey_view(r) for r in rows], total


async def answer_survey(principal: Principal, survey_id: int, data: SurveyAnswerCreate) -> SurveyAnswerView:
    """The household's answer (a later one from the household replaces it while the survey is open)."""
    resident = await me(principal)
    async with transaction():
        survey = await repo.get_survey(survey_id, for_share=True)  # the closing job waits for answers in flight
        if survey is None or survey.community_id != resident.community_id:
            raise SurveyNotFound()
        now = clock.now()
        if survey.state != "open" or not survey.opens_at <= now < survey.closes_at:
            raise SurveyNotOpen(detail={"opens_at": survey.opens_at, "closes_at": survey.closes_at})
        if not resident.confirmed:
            raise SurveyHouseholdUnconfirmed()
        answer = await repo.upsert_answer(
            survey_id=survey_id,
            household_id=resident.household_id,
            resident_id=resident.id,
            marks={name: getattr(data, name) for name in ("overall", *satisfaction.ASPECTS)},
            comment=data.comment.strip(),
            now=now,
        )
        # Taking part earns points once per household, however often the answer is changed.
        await _award(resident, "survey", survey_id, get_settings().points_for_survey, SOURCE_MEMOS["survey"])
        return answer


OFFLINE_HEADERS = (
    {"总体满意度", "overall"},
    {"服务态度", "attitude"},
    {"响应速度", "responsiveness"},
    {"服务质量", "quality"},
    {"价格合理", "price"},
    {"意见", "意见建议", "comment"},
)


OFFLINE_FIELDS = ("overall", *satisfaction.ASPECTS)


def parse_offline(rows: list[list[str]]) -> tuple[list[dict], list[dict]]:
    """The questionnaires of an offline sheet, and every problem by row (row 1 is the header), in Chinese."""
    labels = [satisfaction.ASPECT_LABELS[name] for name in OFFLINE_FIELDS]
    header = [cell.strip() for cell in rows[0]] if rows else []
    while header and not header[-1]:
        header = header[:-1]
    if len(header) not in (5, 6) or any(header[i] not in OFFLINE_HEADERS[i] for i in range(len(header))):
        return [], [{"row": 1, "field": "header", "message": f"第 1 行应为表头：{','.join(labels)},意见"}]
    found: list[dict] = []
    errors: list[dict] = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        while row and not row[-1].strip():  # a spreadsheet's empty trailing cells
            row = row[:-1]
        if len(row) not in (5, 6):
            errors.append({"row": number, "field": "row", "message": f"第 {number} 行应有 5 或 6 列"})
            continue
        marks = {name: satisfaction.mark(cell) for name, cell in zip(OFFLINE_FIELDS, row[:5], strict=True)}
        bad = [satisfaction.ASPECT_LABELS[name] for name, value in marks.items() if value is None]
        if bad:
            errors.append(
                {
                    "row": number,
                    "field": next(name for name, value in marks.items() if value is None),
                    "message": f"第 {number} 行{'、'.join(bad)}应为 1 至 5 的整数",
                }
            )
            continue
        comment = row[5].strip() if len(row) == 6 else ""
        if len(comment) > 500:
            errors.append({"row": number, "field": "comment", "message": f"第 {number} 行意见超过 500 字"})
            continue
        found.append({"row": number, **marks, "comment": comment})
    if not found and not errors:
        errors.append({"row": 2, "field": "row", "message": "文件中没有测评结果"})
    return found, errors


async def upload_offline(
    principal: Principal, survey_id: int, *, file_name: str, csv_text: str | None, xlsx_base64: str | None
) -> SurveyUploadView:
    """A third-party surveyor's offline results for a survey of their district: all rows or none, kept apart
    from the households' answers, while the survey is open."""
    survey = await repo.get_survey(survey_id)
    if survey is None:
        raise SurveyNotFound()
    grant = next(
        (g for g in principal.grants if g.role == Role.surveyor and survey.org_path.startswith(g.org_path)), None
    )
    if grant is None:
        raise NotDistrictSurveyor(detail={"survey_id": survey_id})
    found, errors = parse_offline(register_rows(csv_text, xlsx_base64, what="线下测评结果", invalid=SurveyFileInvalid))
    if errors:
        raise SurveyFileInvalid(errors[0]["message"] + "；整份文件未导入", detail={"field": "csv", "errors": errors})
    async with transaction():
        locked = await repo.get_survey(survey_id, for_share=True)
        if locked is None or locked.state != "open":
            raise SurveyNotOpen(detail={"closes_at": survey.closes_at})
        upload_id = await repo.insert_upload(
            survey_id=survey_id,
            user_id=principal.user_id,
            surveyor_org_id=grant.org_id,
            file_name=file_name.strip(),
            rows=found,
            now=clock.now(),
        )
        await audit.record(
            principal,
            "survey.offline_upload",
            "survey",
            survey_id,
            after={
                "upload_id": upload_id,
                "file_name": file_name.strip(),
                "rows": len(found),
                "satisfied": sum(1 for r in found if r["overall"] >= satisfaction.SATISFIED_FROM),
            },
        )
    return next(u for u in await repo.uploads_of(survey_id) if u.id == upload_id)


async def list_uploads(principal: Principal, survey_id: int) -> list[SurveyUploadView]:
    survey = await repo.get_survey(survey_id)
    if survey is None or not path_in_scope(survey.org_path, _aggregate_paths(principal)):
        raise SurveyNotFound()
    return await repo.uploads_of(survey_id)


async def survey_result(survey_id: int) -> SurveyResult:
    """A closed survey's result, for everyone."""
    survey = await repo.get_survey(survey_id)
    if survey is None:
        raise SurveyNotFound()
    if survey.state != "closed" or not survey.result or survey.closed_at is None:
        raise SurveyNotClosed(detail={"closes_at": survey.closes_at})
    combined = survey.result["combined"]
    return SurveyResult(
        survey_id=survey.id,
        community_name=survey.community_name,
        operator_name=survey.operator_name,
        period_start=survey.period_start,
        period_end=survey.period_end,
        closed_at=survey.closed_at,
        rate=Decimal(combined["rate"]) if combined["rate"] is not None else None,
        count=combined["count"],
        questions=satisfaction.ASPECT_LABELS,
        online=survey.result["online"],
        offline=survey.result["offline"],
        combined=combined,
    )


async def latest_satisfaction(groups: dict[str, list[int]]) -> dict[str, tuple[Decimal | None, int]]:
    """The satisfaction rate of each group of communities (the monthly report's platform-run and market-run
    old-renovation communities): each community's latest answered quarter, the group's answers counted
    together, with the count. One statement for every group."""
    by_community: dict[int, list[dict]] = {}
    for row in await repo.closed_results_of_communities([i for ids in groups.values() for i in ids]):
        by_community.setdefault(row["community_id"], []).append(row)
    return {
        key: satisfaction.combined_rate(
            [r["result"] for i in ids for r in satisfaction.latest_answered(by_community.get(i, []))]
        )
        for key, ids in groups.items()
    }


async def accept_community(principal: Principal, community_id: int, reason: str) -> AcceptanceView:
    """验收通过: only when the satisfaction rate of the community's latest quarter with a closed, answered survey
    (every contract's survey of that quarter counted together) is at or above the setting. Once."""
    community = await market_repo.get_community(community_id)
    if community is None or not principal.can_write_path(community.org_path, *OFFICIAL_ROLES):
        raise CommunityNotFound()
    threshold = get_settings().acceptance_min_satisfaction
    latest = satisfaction.latest_answered(await repo.closed_results_of_community(community_id))
    if not latest:
        raise NoClosedSurvey(
            f"{community.name}还没有已结束且有答卷的居民满意度测评，不能验收通过（验收要求满意度不低于 {threshold}%）",
            detail={"threshold": str(threshold)},
        )
    rate, count = satisfaction.combined_rate([r["result"] for r in latest])
    surveys = [r["id"] for r in latest]
    assert rate is not None
    if rate < threshold:
        raise SatisfactionTooLow(
            f"{community.name}最近一次居民满意度为 {rate}%（{count} 份答卷），低于验收要求的 {threshold}%，不能验收通过",
            detail={"rate": str(rate), "threshold": str(threshold), "count": count, "survey_ids": surveys},
        )
    now = clock.now()
    async with transaction():
        locked = await market_repo.get_community(community_id, for_update=True)
        if locked is None or locked.accepted_at is not None:
            raise AlreadyAccepted(detail={"accepted_at": locked.accepted_at if locked else None})
        await market_repo.record_acceptance(community_id, user_id=principal.user_id, satisfaction=rate, now=now)
        await audit.record(
            principal,
            "acceptance.grant",
            "community",
            community_id,
            before={"accepted": False},
            after={"accepted": True, "satisfaction": rate, "count": count, "threshold": threshold, "surveys": surveys},
            reason=reason.strip() or f"居民满意度 {rate}% 达到验收要求 {threshold}%",
        )
    return AcceptanceView(
        community_id=community_id,
        community_name=community.name,
        accepted_at=now,
        satisfaction=rate,
        threshold=threshold,
        surveys=surveys,
    )
