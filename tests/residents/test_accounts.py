"""Residents sign up and log in with a one-time code; their data is theirs (PIPL)."""

from __future__ import annotations

from tests.market.helpers import community
from tests.residents.helpers import confirm, new_phone, request_code, sent_code, sign_up


async def test_a_resident_signs_up_with_a_code_and_sees_their_own_record(world, frozen_clock):
    cx = await community(world, "street_x", "江滨社区")
    resident = await sign_up(world, "wang", cx["id"], phone="13912345678")
    assert resident["phone"] == "13912345678" and resident["confirmed"] is False
    me = (await world.get("wang", "/api/v1/residents/me")).json()
    assert me["phone"] == "13912345678" and (me["building"], me["unit"], me["room"]) == ("3", "2", "1201")
    # The token is an ordinary bearer token: /me knows the resident's role on their community.
    grants = (await world.get("wang", "/api/v1/me")).json()["grants"]
    assert [g["role"] for g in grants] == ["resident"]
    # A resident's grant opens none of the org tree.
    assert (await world.get("wang", "/api/v1/users")).json()["total"] == 0
    assert (await world.get("wang", "/api/v1/communities")).json()["total"] == 0
    # Only officials list residents; the street of the community sees the number, the district a mask.
    assert (await world.get("wang", "/api/v1/residents")).status_code == 403
    street = (await world.get("street_x", "/api/v1/residents")).json()["items"]
    district = (await world.get("district", "/api/v1/residents")).json()["items"]
    assert [r["phone"] for r in street] == ["13912345678"]
    assert [r["phone"] for r in district] == ["139****5678"]
    assert (await world.get("street_y", "/api/v1/residents")).json()["total"] == 0

    frozen_clock.advance(seconds=61)
    code = await request_code(world, "13912345678")
    again = await world.client.post("/api/v1/public/residents/login", json={"phone": "13912345678", "code": code})
    assert again.status_code == 200, again.text
    assert again.json()["resident"]["id"] == resident["id"]


async def test_codes_are_single_use_expire_and_allow_five_tries(world, frozen_clock):
    cx = await community(world, "street_x", "江滨社区")
    phone = new_phone()
    await sign_up(world, "li", cx["id"], phone=phone)
    frozen_clock.advance(seconds=61)
    code = await request_code(world, phone)
    wrong = "000000" if code != "000000" else "111111"
    for tries_left in (4, 3, 2, 1):
        response = await world.client.post("/api/v1/public/residents/login", json={"phone": phone, "code": wrong})
        assert response.status_code == 422 and response.json()["code"] == "resident.code_invalid", response.text
        assert response.json()["detail"]["tries_left"] == tries_left and "code" in response.json()["message"]
    fifth = await world.client.post("/api/v1/public/residents/login", json={"phone": phone, "code": wrong})
    assert fifth.status_code == 429 and fifth.json()["code"] == "resident.code_exhausted"
    # Even the right code is refused once five tries are spent.
    right = await world.client.post("/api/v1/public/residents/login", json={"phone": phone, "code": code})
    assert right.status_code == 429
    # A new code, used once, works once; after five minutes a code is no more.
    frozen_clock.advance(seconds=61)
    code = await request_code(world, phone)
    assert (
        await world.client.post("/api/v1/public/residents/login", json={"phone": phone, "code": code})
    ).status_code == 200
    used = await world.client.post("/api/v1/public/residents/login", json={"phone": phone, "code": code})
    assert used.status_code == 422
    frozen_clock.advance(seconds=61)
    code = await request_code(world, phone)
    frozen_clock.advance(minutes=5)
    late = await world.client.post("/api/v1/public/residents/login", json={"phone": phone, "code": code})
    assert late.status_code == 422 and late.json()["code"] == "resident.code_invalid"


async def test_codes_are_rate_limited_per_number_and_per_client(world, frozen_clock):
    phone = new_phone()
    await request_code(world, phone)
    soon = await world.client.post("/api/v1/public/residents/codes", json={"phone": phone})
    assert soon.status_code == 429 and soon.json()["code"] == "resident.code_too_soon"
    for _ in range(4):
        frozen_clock.advance(seconds=61)
        await request_code(world, phone)
    frozen_clock.advance(seconds=61)
    sixth = await world.client.post("/api/v1/public/residents/codes", json={"phone": phone})
    assert sixth.status_code == 429 and sixth.json()["detail"]["retry_after"] == 3600
    # One client address asking for many numbers is stopped too (5 so far, 15 more allowed this hour).
    for _ in range(15):
        await request_code(world, new_phone())
    busy = await world.client.post("/api/v1/public/residents/codes", json={"phone": new_phone()})
    assert busy.status_code == 429 and busy.json()["code"] == "resident.client_rate_limited"


async def test_sign_up_refuses_bad_input_naming_the_field_and_writes_nothing(world, frozen_clock):
    cx = await community(world, "street_x", "江滨社区")
    bad_phone = await world.client.post("/api/v1/public/residents/codes", json={"phone": "12345678901"})
    assert bad_phone.status_code == 422 and "phone" in bad_phone.json()["message"]
    phone = new_phone()
    code = await request_code(world, phone)
    base = {
        "phone": phone,
        "code": code,
        "name": "赵六",
        "community_id": cx["id"],
        "building": "3",
        "unit": "2",
        "room": "101",
    }
    for field, value in (("room", "12/01"), ("building", ""), ("name", "")):
        response = await world.client.post("/api/v1/public/residents/sign-up", json={**base, field: value})
        assert response.status_code == 422 and field in response.json()["message"], response.text
    unknown = await world.client.post("/api/v1/public/residents/sign-up", json={**base, "community_id": 999_999})
    assert unknown.status_code == 422 and unknown.json()["code"] == "resident.community_unknown"
    assert "社区" in unknown.json()["message"]
    assert (await world.get("street_x", "/api/v1/residents")).json()["total"] == 0
    assert (await world.client.post("/api/v1/public/residents/sign-up", json=base)).status_code == 201
    frozen_clock.advance(seconds=61)
    code = await request_code(world, phone)
    taken = await world.client.post("/api/v1/public/residents/sign-up", json={**base, "code": code})
    assert taken.status_code == 409 and taken.json()["code"] == "resident.phone_taken"
    stranger = new_phone()
    code = await request_code(world, stranger)
    login = await world.client.post("/api/v1/public/residents/login", json={"phone": stranger, "code": code})
    assert login.status_code == 404 and login.json()["code"] == "resident.not_registered"


async def test_the_street_confirms_households_one_by_one_or_by_its_register(world, frozen_clock):
    cx = await community(world, "street_x", "江滨社区")
    resident = await sign_up(world, "wang", cx["id"])
    household = resident["household_id"]
    assert (await world.post("street_y", f"/api/v1/households/{household}/confirm", json={})).status_code == 404
    assert (await world.post("district", f"/api/v1/households/{household}/confirm", json={})).status_code == 403
    assert (await world.post("street_x", "/api/v1/households/999999/confirm", json={})).status_code == 404
    confirmed = await confirm(world, household)
    assert confirmed["confirmed_at"] is not None
    assert (await world.get("wang", "/api/v1/residents/me")).json()["confirmed"] is True

    bad = "楼栋,单元,室\n3,2,1201\n3,2\n5,1,12/01\n3,2,1201\n"
    refused = await world.post("street_x", f"/api/v1/households/register/{cx['id']}", json={"csv": bad})
    assert refused.status_code == 422 and refused.json()["code"] == "household.register_invalid"
    errors = refused.json()["detail"]["errors"]
    assert [e["row"] for e in errors] == [3, 4, 5] and "第 3 行" in errors[0]["message"]
    listed = (await world.get("street_x", "/api/v1/households", params={"community_id": cx["id"]})).json()
    assert listed["total"] == 1  # nothing of the refused register was written
    header = await world.post("street_x", f"/api/v1/households/register/{cx['id']}", json={"csv": "a,b,c\n1,1,1\n"})
    assert header.status_code == 422 and "表头" in header.json()["message"]

    good = "\ufeff楼栋,单元,室\n3,2,1201\n3,2,1202\n4,1,101\n"
    imported = await world.post("street_x", f"/api/v1/households/register/{cx['id']}", json={"csv": good})
    assert imported.status_code == 200, imported.text
    assert imported.json() == {"rows": 3, "confirmed": 3, "created": 2}
    unconfirmed = await world.get("street_x", "/api/v1/households", params={"confirmed": "false"})
    assert unconfirmed.json()["total"] == 0
    other = await world.post("street_y", f"/api/v1/households/register/{cx['id']}", json={"csv": good})
    assert other.status_code == 404
    cy = await community(world, "street_y", "彩虹社区")
    district = await world.post("district", f"/api/v1/households/register/{cy['id']}", json={"csv": good})
    assert district.status_code == 403


async def test_a_resident_exports_their_data_and_deletes_their_account(world, frozen_clock):
    cx = await community(world, "street_x", "江滨社区")
    resident = await sign_up(world, "wang", cx["id"], phone="13712345678")
    exported = await world.get("wang", "/api/v1/residents/me/export")
    assert exported.status_code == 200
    assert exported.json()["resident"]["phone"] == "13712345678" and exported.json()["ballots"] == []
    deleted = await world.client.delete("/api/v1/residents/me", headers=world.headers("wang"))
    assert deleted.status_code == 204, deleted.text
    assert (await world.get("wang", "/api/v1/residents/me")).status_code == 401
    assert (await world.get("street_x", "/api/v1/residents")).json()["total"] == 0
    # The household stays, for counting; the number is free to sign up again.
    households = (await world.get("street_x", "/api/v1/households")).json()["items"]
    assert [h["id"] for h in households] == [resident["household_id"]]
    code = await sent_code("13712345678")
    assert code


async def test_a_resident_login_without_a_resident_record_finds_nothing_of_its_own(world):
    # The world's resident user holds the role but has no record yet (a scene gives it one).
    for method, url in (
        ("GET", "/api/v1/residents/me"),
        ("GET", "/api/v1/residents/me/export"),
        ("DELETE", "/api/v1/residents/me"),
    ):
        response = await world.client.request(method, url, headers=world.headers("resident"))
        assert response.status_code == 404 and response.json()["code"] == "resident.not_found", response.text
    # Nor may anyone grant the resident role: residents sign up themselves.
    refused = await world.post(
        "street_x",
        "/api/v1/users",
        json={
            "username": "fake_resident",
            "password": "long-enough-password",
            "email": "fake@example.org",
            "grants": [{"role": "resident", "org_id": world.org_id("community_x")}],
        },
    )
    assert refused.status_code == 403 and refused.json()["code"] == "user.role_not_grantable"


async def test_five_wrong_codes_at_sign_up_spend_the_code(world, frozen_clock):
    cx = await community(world, "street_x", "江滨社区")
    phone = new_phone()
    code = await request_code(world, phone)
    body = {"phone": phone, "name": "钱七", "community_id": cx["id"], "building": "1", "unit": "1", "room": "1"}
    wrong = "000000" if code != "000000" else "111111"
    answers = [
        (await world.client.post("/api/v1/public/residents/sign-up", json={**body, "code": wrong})).status_code
        for _ in range(5)
    ]
    assert answers == [422, 422, 422, 422, 429]
    spent = await world.client.post("/api/v1/public/residents/sign-up", json={**body, "code": code})
    assert spent.status_code == 429 and spent.json()["code"] == "resident.code_exhausted"
    assert (await world.get("street_x", "/api/v1/residents")).json()["total"] == 0


async def test_the_register_may_be_an_excel_workbook(world):
    import base64
    import io

    import openpyxl

    cx = await community(world, "street_x", "江滨社区")
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in (("楼栋", "单元", "室"), (3, 2, 1201), ("A座", 1, 101), (None, None, None)):
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    url = f"/api/v1/households/register/{cx['id']}"
    xlsx = base64.b64encode(buffer.getvalue()).decode()
    imported = await world.post("street_x", url, json={"xlsx_base64": xlsx})
    assert imported.status_code == 200, imported.text
    assert imported.json() == {"rows": 2, "confirmed": 2, "created": 2}
    rooms = {(h["building"], h["room"]) for h in (await world.get("street_x", "/api/v1/households")).json()["items"]}
    assert rooms == {("3", "1201"), ("A座", "101")}

    not_excel = await world.post("street_x", url, json={"xlsx_base64": base64.b64encode(b"not a workbook").decode()})
    assert not_excel.status_code == 422 and "xlsx_base64" in not_excel.json()["message"]
    both = await world.post("street_x", url, json={"xlsx_base64": xlsx, "csv": "楼栋,单元,室\n1,1,1\n"})
    neither = await world.post("street_x", url, json={})
    for refused in (both, neither):
        assert refused.status_code == 422 and refused.json()["code"] == "household.register_invalid"
