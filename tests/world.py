"""A small world for tests: two districts, three streets, two operators, an owner, one user per role.

杭州市 (city)
├── 富阳区 (district A) ── 富春街道 (street X) ── 江滨社区
│                       ├── 银湖街道 (street Y) ── 彩虹社区
│                       └── 富阳城投 (owner)
├── 西湖区 (district B) ── 文新街道 (street Z)
├── 运营商甲 (operator A)
└── 运营商乙 (operator B)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from core.accounts import service as accounts
from core.accounts.schemas import OrgRow
from core.accounts.tables import OrgKind, Role

PASSWORD = "correct-horse-battery"

# user key → [(role, org key)]
USERS = {
    "city": [(Role.city, "city")],
    "auditor": [(Role.auditor, "city")],
    "district": [(Role.district, "district_a")],
    "district_b": [(Role.district, "district_b")],
    "street_x": [(Role.street, "street_x")],
    "street_y": [(Role.street, "street_y")],
    "operator_a": [(Role.operator, "operator_a")],
    "operator_b": [(Role.operator, "operator_b")],
    "owner": [(Role.owner, "owner")],
    # A resident of 江滨社区 (their resident record, household and community file come with a scene).
    "resident": [(Role.resident, "community_x")],
    # A third-party surveyor (第三方测评机构) assigned to district A.
    "surveyor": [(Role.surveyor, "district_a")],
    # Two roles at once: street X official who also works for operator A.
    "street_x_and_operator_a": [(Role.street, "street_x"), (Role.operator, "operator_a")],
}


@dataclass
class World:
    client: httpx.AsyncClient
    orgs: dict[str, OrgRow] = field(default_factory=dict)
    user_ids: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def org_id(self, key: str) -> int:
        return self.orgs[key].id

    async def get(self, user: str | None, url: str, **kwargs) -> httpx.Response:
        return await self.client.get(url, headers=self.headers(user) if user else {}, **kwargs)

    async def post(self, user: str | None, url: str, **kwargs) -> httpx.Response:
        return await self.client.post(url, headers=self.headers(user) if user else {}, **kwargs)

    async def patch(self, user: str | None, url: str, **kwargs) -> httpx.Response:
        return await self.client.patch(url, headers=self.headers(user) if user else {}, **kwargs)


async def login(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post("/api/v1/auth/login", json={"username": username, "password": password})


async def build_world(client: httpx.AsyncClient) -> World:
    world = World(client)
    tree = [
        ("city", "杭州市", OrgKind.city, None),
        ("district_a", "富阳区", OrgKind.district, "city"),
        ("district_b", "西湖区", OrgKind.district, "city"),
        ("street_x", "富春街道", OrgKind.street, "district_a"),
        ("street_y", "银湖街道", OrgKind.street, "district_a"),
        ("street_z", "文新街道", OrgKind.street, "district_b"),
        ("community_x", "江滨社区", OrgKind.community, "street_x"),
        ("community_y", "彩虹社区", OrgKind.community, "street_y"),
        ("operator_a", "运营商甲", OrgKind.operator, "city"),
        ("operator_b", "运营商乙", OrgKind.operator, "city"),
        ("owner", "富阳城投", OrgKind.owner, "district_a"),
    ]
    for key, name, kind, parent in tree:
        world.orgs[key] = await accounts.create_org(
            None, name=name, kind=kind, parent_id=world.orgs[parent].id if parent else None, code=key
        )
    for username, grants in USERS.items():
        user = await accounts.create_user(
            None,
            username=username,
            password=PASSWORD,
            email=f"{username}@example.org",
            display_name=username,
            grants=[(role, world.orgs[org].id) for role, org in grants],
        )
        world.user_ids[username] = user.id
        response = await login(client, username)
        assert response.status_code == 200, response.text
        world.tokens[username] = response.json()["access_token"]
    return world
