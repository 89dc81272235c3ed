"""Demo data: Hangzhou's districts, Fuyang's streets and its 17 future-community projects, one user per role.

Loading is idempotent: each part checks for its own marker, so a second `make run` adds nothing.
Domain packages add their own demo data through `<package>.demo.load()`, called after this.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

from core.accounts import repository as accounts_repo
from core.accounts import service as accounts
from core.accounts.schemas import OrgRow
from core.accounts.tables import OrgKind, Role
from core.contributions import contributing_modules
from core.settings import get_settings

log = logging.getLogger(__name__)

DATA_DIR = Path(__file__).parent / "data"
FUYANG_PROJECTS = DATA_DIR / "fuyang_projects_2021_2023.csv"

CITY = ("杭州市", "330100")
# Administrative division codes (GB/T 2260) of Hangzhou's 13 districts, counties and county-level cities.
DISTRICTS = [
    ("上城区", "330102"),
    ("拱墅区", "330105"),
    ("西湖区", "330106"),
    ("滨江区", "330108"),
    ("萧山区", "330109"),
    ("余杭区", "330110"),
    ("富阳区", "330111"),
    ("临安区", "330112"),
    ("临平区", "330113"),
    ("钱塘区", "330114"),
    ("桐庐县", "330122"),
    ("淳安县", "330127"),
    ("建德市", "330182"),
]
# Fuyang's sub-districts and towns, plus the management committee that runs 杭黄社区.
FUYANG_STREETS = [
    "富春街道",
    "春江街道",
    "东洲街道",
    "鹿山街道",
    "银湖街道",
    "富春湾新城管委会",
    "新登镇",
    "场口镇",
    "常安镇",
    "大源镇",
    "灵桥镇",
    "万市镇",
    "洞桥镇",
    "胥口镇",
    "永昌镇",
    "里山镇",
    "渌渚镇",
    "常绿镇",
    "湖源乡",
    "上官乡",
    "春建乡",
    "新桐乡",
    "环山乡",
]

DEMO_OPERATOR = "杭州邻里未来社区运营管理有限公司（演示）"
DEMO_OWNER = "富阳城市建设投资集团有限公司（演示）"


@dataclass(frozen=True)
class DemoAccount:
    username: str
    display_name: str
    role: Role
    org_code: str


DEMO_ACCOUNTS = [
    DemoAccount("city_admin", "市建委审核员", Role.city, "330100"),
    DemoAccount("fuyang_district", "富阳区住建局", Role.district, "330111"),
    DemoAccount("fuchun_street", "富春街道办", Role.street, "330111-富春街道"),
    DemoAccount("operator_demo", "邻里运营（演示）", Role.operator, "operator-demo"),
    DemoAccount("owner_demo", "富阳城投（演示）", Role.owner, "owner-demo"),
    DemoAccount("auditor", "市审计（只读）", Role.auditor, "330100"),
]


def fuyang_projects() -> list[dict]:
    with FUYANG_PROJECTS.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


async def _ensure_org(name: str, kind: OrgKind, parent: OrgRow | None, code: str) -> OrgRow:
    existing = await accounts_repo.get_org_by_code(code)
    if existing:
        return existing
    return await accounts.create_org(None, name=name, kind=kind, parent_id=parent.id if parent else None, code=code)


async def load_org_tree() -> dict[str, OrgRow]:
    """Returns the orgs by code."""
    orgs: dict[str, OrgRow] = {}
    city = await _ensure_org(CITY[0], OrgKind.city, None, CITY[1])
    orgs[CITY[1]] = city
    for name, code in DISTRICTS:
        orgs[code] = await _ensure_org(name, OrgKind.district, city, code)
    fuyang = orgs["330111"]
    for street in FUYANG_STREETS:
        code = f"330111-{street}"
        orgs[code] = await _ensure_org(street, OrgKind.street, fuyang, code)
    for row in fuyang_projects():
        street_code = f"330111-{row['responsible_unit']}"
        code = f"{street_code}-{row['community']}"
        orgs[code] = await _ensure_org(row["community"], OrgKind.community, orgs[street_code], code)
    orgs["operator-demo"] = await _ensure_org(DEMO_OPERATOR, OrgKind.operator, city, "operator-demo")
    orgs["owner-demo"] = await _ensure_org(DEMO_OWNER, OrgKind.owner, fuyang, "owner-demo")
    return orgs


async def load_accounts(orgs: dict[str, OrgRow]) -> None:
    password = get_settings().demo_password
    for account in DEMO_ACCOUNTS:
        if await accounts_repo.username_exists(account.username):
            continue
        await accounts.create_user(
            None,
            username=account.username,
            password=password,
            email=f"{account.username}@example.org",
            display_name=account.display_name,
            grants=[(account.role, orgs[account.org_code].id)],
        )


async def load_demo() -> None:
    orgs = await load_org_tree()
    await load_accounts(orgs)
    for module in contributing_modules("demo"):
        await module.load()
    log.info("demo data loaded")
