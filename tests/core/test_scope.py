"""Data scope: an official sees their subtree, a company user their company, several roles the union."""

from __future__ import annotations

import pytest

from core.accounts.principal import fold_paths, path_in_scope


def test_fold_paths_drops_nested_subtrees():
    assert fold_paths(["/1/4/", "/1/", "/1/4/9/", "/2/"]) == ["/1/", "/2/"]


def test_path_prefix_is_a_whole_segment():
    # '/1/4/' must not match '/1/40/': paths end with a slash for exactly this reason.
    assert path_in_scope("/1/4/9/", ["/1/4/"])
    assert not path_in_scope("/1/40/", ["/1/4/"])


async def _org_names(world, user: str) -> set[str]:
    response = await world.get(user, "/api/v1/orgs", params={"limit": 200})
    assert response.status_code == 200, response.text
    return {o["name"] for o in response.json()["items"]}


async def _usernames(world, user: str) -> set[str]:
    response = await world.get(user, "/api/v1/users", params={"limit": 200})
    assert response.status_code == 200, response.text
    return {u["username"] for u in response.json()["items"]}


async def test_street_user_sees_only_its_street(world):
    assert await _org_names(world, "street_x") == {"富春街道", "江滨社区"}
    visible_users = await _usernames(world, "street_x")
    assert "street_y" not in visible_users and "district" not in visible_users
    assert {"street_x", "street_x_and_operator_a"} <= visible_users


@pytest.mark.parametrize("target", ["street_y", "community_y", "district_a", "operator_a"])
async def test_street_user_cannot_read_other_orgs_by_id(world, target):
    response = await world.get("street_x", f"/api/v1/orgs/{world.org_id(target)}")
    assert response.status_code == 404
    assert response.json()["code"] == "org.not_found"


async def test_street_user_cannot_read_another_streets_user_by_id(world):
    response = await world.get("street_x", f"/api/v1/users/{world.user_ids['street_y']}")
    assert response.status_code == 404


async def test_district_sees_its_streets_and_owner_but_not_other_district(world):
    names = await _org_names(world, "district")
    assert {"富阳区", "富春街道", "银湖街道", "江滨社区", "彩虹社区", "富阳城投"} == names


async def test_operator_sees_only_its_company(world):
    assert await _org_names(world, "operator_a") == {"运营商甲"}
    assert "operator_b" not in await _usernames(world, "operator_a")


async def test_two_roles_see_exactly_the_union(world):
    union = await _org_names(world, "street_x") | await _org_names(world, "operator_a")
    assert await _org_names(world, "street_x_and_operator_a") == union
    # ... and not more: nothing of street Y, operator B, or the district itself.
    assert await _org_names(world, "street_x_and_operator_a") == {"富春街道", "江滨社区", "运营商甲"}


async def test_city_sees_the_whole_tree(world):
    names = await _org_names(world, "city")
    assert len(names) == len(world.orgs)


async def test_list_is_paginated_with_total(world):
    first = (await world.get("city", "/api/v1/orgs", params={"limit": 3, "offset": 0})).json()
    second = (await world.get("city", "/api/v1/orgs", params={"limit": 3, "offset": 3})).json()
    assert first["total"] == second["total"] == len(world.orgs)
    assert len(first["items"]) == 3
    assert not {o["id"] for o in first["items"]} & {o["id"] for o in second["items"]}


async def test_me_lists_every_grant(world):
    response = await world.get("street_x_and_operator_a", "/api/v1/me")
    assert response.status_code == 200
    roles = {(g["role"], g["org_name"]) for g in response.json()["grants"]}
    assert roles == {("street", "富春街道"), ("operator", "运营商甲")}
    assert {g["role_label"] for g in response.json()["grants"]} == {"街道/乡镇", "运营商"}


async def test_a_page_past_the_end_still_reports_the_total(world):
    page = (await world.get("city", "/api/v1/orgs", params={"limit": 5, "offset": 500})).json()
    assert page["items"] == [] and page["total"] == len(world.orgs)
    users = (await world.get("city", "/api/v1/users", params={"offset": 500})).json()
    assert users["items"] == [] and users["total"] == len(world.user_ids)
