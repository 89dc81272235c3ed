"""The pages' session cookie and CSRF protection, without a browser."""

from __future__ import annotations

import time

from core.settings import get_settings
from tests.world import PASSWORD
from web import session


def test_a_genuine_cookie_names_its_user_and_a_changed_one_names_no_one():
    now = int(time.time())
    cookie = session.encode(42, now)
    assert session.decode(cookie) == (42, False)
    user, issued, signature = cookie.split(".")
    assert session.decode(f"43.{issued}.{signature}") == (None, False)
    assert session.decode(f"{user}.{issued}.{signature[:-1]}A") == (None, False)
    assert session.decode("garbage") == (None, False)


def test_an_old_cookie_has_expired_and_says_so():
    lifetime = get_settings().token_minutes * 60
    cookie = session.encode(42, int(time.time()) - lifetime - 1)
    assert session.decode(cookie) == (None, True)


def test_only_paths_on_this_site_are_returned_to_after_log_in():
    assert session.safe_next("/operator/invoices?offset=20") == "/operator/invoices?offset=20"
    for outside in ("https://evil.example", "//evil.example/x", "/\\evil.example", "", None, "operator"):
        assert session.safe_next(outside) == "/"


async def test_a_form_posted_without_its_csrf_token_is_refused(world, client):
    page = await client.get("/login")
    assert page.status_code == 200 and "fcom_csrf" in page.cookies
    token = page.text.split('name="_csrf_token" value="')[1].split('"')[0]
    refused = await client.post("/login", data={"username": "street_x", "password": PASSWORD})
    assert refused.status_code == 403 and "fcom_session" not in refused.cookies
    accepted = await client.post("/login", data={"username": "street_x", "password": PASSWORD, "_csrf_token": token})
    assert accepted.status_code == 303 and accepted.headers["location"] == "/"
    cookie = accepted.headers["set-cookie"]
    assert "fcom_session=" in cookie and "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()


async def test_the_api_takes_no_csrf_token_and_sets_no_session(world):
    response = await world.get("street_x", "/api/v1/me")
    assert response.status_code == 200 and "set-cookie" not in response.headers


async def test_objections_from_the_notice_page_share_the_addresss_hourly_budget(world, frozen_clock):
    from tests.providers.test_public_notice import on_notice, recommended_application
    from tests.security.test_abuse_limits import app_with

    application = await recommended_application(world, "富春托育服务中心")
    batch_id = await on_notice(world, [application])
    async with app_with("10.0.0.8", OBJECTION_PER_ADDRESS_PER_HOUR="2") as (_, client):
        page = await client.get(f"/batches/{batch_id}")
        token = page.text.split('name="_csrf_token" value="')[1].split('"')[0]
        form = {"_csrf_token": token, "application_id": str(application), "name": "王五", "text": "有异议"}
        for phone in ("13900000001", "13900000002"):
            filed = await client.post(f"/batches/{batch_id}/objections", data={**form, "phone": phone})
            assert filed.status_code == 303, filed.text
        refused = await client.post(f"/batches/{batch_id}/objections", data={**form, "phone": "13900000003"})
        assert refused.status_code == 429


async def test_an_expired_session_goes_to_log_in_with_a_message_and_back(world, client):
    lifetime = get_settings().token_minutes * 60
    old = session.encode(world.user_ids["street_x"], int(time.time()) - lifetime - 5)
    client.cookies.set(session.COOKIE, old)
    response = await client.get("/street/leases")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fstreet%2Fleases&expired=1"
    login_page = await client.get(response.headers["location"])
    assert "登录已过期" in login_page.text and 'name="next" value="/street/leases"' in login_page.text
