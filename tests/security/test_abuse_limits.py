"""Abuse limits and response headers: account lock-out, body size, rate limits, security headers, caching."""

from __future__ import annotations

import os
import re
from contextlib import asynccontextmanager
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx

from app.app import create_app
from core.limits import PUBLIC_PREFIX
from core.settings import get_settings
from tests.reached import recording
from tests.world import PASSWORD, login

ORIGIN = "http://testserver"


def _assert_error_shape(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message", "detail"}
    assert body["code"] == code
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["message"]), "message is for people, in Chinese"
    return body


@asynccontextmanager
async def app_with(client_address: str = "127.0.0.1", **env: str):
    """A second application built with other settings, on the same database; yields a client for it.

    The settings are read when the application is assembled, so the environment is restored at once.
    """
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    get_settings.cache_clear()
    try:
        application = create_app()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()
    transport = httpx.ASGITransport(app=recording(application), client=(client_address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as client:
        yield application, client


# Login lock-out --------------------------------------------------------------------------------


async def test_repeated_wrong_passwords_lock_the_account_with_a_chinese_message(world, frozen_clock):
    allowed = get_settings().login_max_failures
    for _ in range(allowed - 1):
        assert (await login(world.client, "street_x", "wrong-password")).status_code == 401
    # The last allowed failure is still an ordinary wrong password; it is what locks the account.
    _assert_error_shape(await login(world.client, "street_x", "wrong-password"), 401, "auth.invalid_credentials")

    locked = _assert_error_shape(await login(world.client, "street_x", PASSWORD), 429, "auth.locked")
    assert locked["message"] == "登录失败次数过多，账户已暂时锁定，请稍后再试"
    assert locked["detail"]["locked_until"] > frozen_clock.current.isoformat()
    # A locked account answers the same whatever password is tried, so guessing learns nothing.
    assert (await login(world.client, "street_x", "wrong-password")).json()["code"] == "auth.locked"


# Request body size -----------------------------------------------------------------------------


def _registration(world, statement_size: int) -> dict:
    from tests.providers.helpers import operator_payload

    return {
        **operator_payload(world, "超大请求运营公司"),
        "description": "x" * statement_size,
        "username": "bulky_operator",
        "password": "operator-pass-1",
    }


async def test_an_oversized_body_is_413_in_our_error_format_and_writes_nothing(world):
    limit = get_settings().request_max_body_bytes
    response = await world.client.post("/api/v1/public/operator-registrations", json=_registration(world, limit + 10))
    body = _assert_error_shape(response, 413, "request.too_large")
    assert body["detail"] == {"max_bytes": limit}
    assert (await login(world.client, "bulky_operator", "operator-pass-1")).status_code == 401
    operators = await world.get("city", "/api/v1/operators")
    assert operators.json()["total"] == 0


async def test_an_oversized_body_without_a_length_header_is_refused_too(world):
    limit = get_settings().request_max_body_bytes

    async def chunks():
        yield b'{"name": "'
        for _ in range(limit // 65536 + 2):
            yield b"y" * 65536
        yield b'"}'

    response = await world.client.post(
        "/api/v1/orgs", content=chunks(), headers={**world.headers("city"), "Content-Type": "application/json"}
    )
    assert "content-length" not in {k.lower() for k in response.request.headers}
    _assert_error_shape(response, 413, "request.too_large")


async def test_a_body_under_the_limit_is_not_refused_for_its_size(world):
    # The description is capped at 5,000 characters by the schema: the answer is about that, not the size.
    response = await world.client.post("/api/v1/public/operator-registrations", json=_registration(world, 200_000))
    _assert_error_shape(response, 422, "request.validation_failed")


# Rate limits -----------------------------------------------------------------------------------


def public_operations(application) -> list[tuple[str, str]]:
    return [
        (method.upper(), path)
        for path, item in application.openapi_schema.to_schema()["paths"].items()
        if path.startswith(PUBLIC_PREFIX)
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    ]


async def test_the_public_directory_is_rate_limited_per_client_with_retry_after(world):
    async with app_with(RATE_LIMIT_PUBLIC_PER_MINUTE="3") as (application, client):
        for _ in range(3):
            assert (await client.get("/api/v1/public/operators")).status_code == 200
        refused = await client.get("/api/v1/public/categories")
        body = _assert_error_shape(refused, 429, "rate_limited")
        assert body["message"] == "请求过于频繁，请稍后再试"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        # Every public operation, the exports and the self-registration included, counts against the same budget.
        refused = {}
        for method, path in public_operations(application):
            response = await client.request(method, re.sub(r"\{\w+\}", "1", path))
            refused[f"{method} {path}"] = (response.status_code, response.json()["code"])
        assert len(refused) >= 6
        assert {where: answer for where, answer in refused.items() if answer != (429, "rate_limited")} == {}
        # Logged-in work, health checks and login itself are not throttled by the public budget.
        assert (await client.get("/api/v1/me", headers=world.headers("city"))).status_code == 200
        assert (await client.get("/health")).status_code == 200
        assert (await login(client, "street_x")).status_code == 200

    # Another address has a budget of its own.
    async with app_with("10.0.0.2", RATE_LIMIT_PUBLIC_PER_MINUTE="3") as (application, client):
        assert (await client.get("/api/v1/public/operators")).status_code == 200


async def test_login_is_rate_limited_even_with_the_right_password(world):
    async with app_with(RATE_LIMIT_LOGIN_PER_MINUTE="2") as (_, client):
        assert (await login(client, "street_x", "wrong-password")).status_code == 401
        assert (await login(client, "street_y")).status_code == 200
        refused = await login(client, "street_x")
        _assert_error_shape(refused, 429, "rate_limited")
        assert "access_token" not in refused.text
        assert int(refused.headers["Retry-After"]) >= 1
        assert (await client.get("/api/v1/public/operators")).status_code == 200


async def test_a_limit_of_zero_switches_rate_limiting_off(world):
    async with app_with(RATE_LIMIT_PUBLIC_PER_MINUTE="0", RATE_LIMIT_LOGIN_PER_MINUTE="0") as (_, client):
        statuses = {(await client.get("/api/v1/public/categories")).status_code for _ in range(40)}
        statuses |= {(await login(client, "street_y")).status_code for _ in range(40)}
        assert statuses == {200}


# Security headers ------------------------------------------------------------------------------


def _assert_security_headers(response: httpx.Response) -> None:
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    csp = _csp(response)
    assert csp["frame-ancestors"] == ["'none'"]
    assert "'unsafe-eval'" not in " ".join(sum(csp.values(), []))


def _csp(response: httpx.Response) -> dict[str, list[str]]:
    policy = {}
    for directive in response.headers["Content-Security-Policy"].split(";"):
        name, *sources = directive.split()
        policy[name] = sources
    return policy


async def test_every_kind_of_answer_carries_the_security_headers(world):
    answers = [
        await world.client.get("/health"),
        await world.client.get("/api/v1/public/operators"),
        await world.client.get("/api/v1/public/operators.csv"),
        await world.get("city", "/api/v1/me"),
        await world.client.get("/api/v1/me"),  # 401
        await world.get("city", "/api/v1/no-such-thing"),  # 404
        await world.post("city", "/api/v1/orgs", json={"name": 1}),  # 422
        await login(world.client, "city"),
        await world.client.get("/schema/openapi.json"),
        await world.client.get("/admin/"),
    ]
    for response in answers:
        _assert_security_headers(response)
    api = _csp(answers[1])
    assert api["default-src"] == ["'none'"]


async def test_answers_to_logged_in_requests_and_the_login_answer_are_not_stored(world):
    assert (await world.get("city", "/api/v1/me")).headers["Cache-Control"] == "no-store"
    assert (await world.get("city", "/api/v1/public/operators")).headers["Cache-Control"] == "no-store"
    assert (await world.get("city", "/api/v1/audit")).headers["Cache-Control"] == "no-store"
    assert (await login(world.client, "city")).headers["Cache-Control"] == "no-store"
    # The anonymous directory may be cached by browsers and proxies.
    assert "no-store" not in (await world.client.get("/api/v1/public/operators")).headers.get("Cache-Control", "")


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self.inline_scripts = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            if attrs.get("src"):
                self.scripts.append(attrs["src"])
            else:
                self.inline_scripts += 1
        if tag == "link" and attrs.get("rel") == "stylesheet":
            self.styles.append(attrs["href"])


def _allows(policy: dict[str, list[str]], directive: str, url: str) -> bool:
    sources = policy.get(directive, policy.get("default-src", []))
    parts = urlsplit(url)
    for source in sources:
        if source == "'self'" and f"{parts.scheme}://{parts.netloc}" == ORIGIN:
            return True
        if source.startswith("http") and url.startswith(source.rstrip("/") + "/"):
            return True
    return False


async def _page_loads_under_its_policy(client: httpx.AsyncClient, url: str) -> tuple[_Assets, dict]:
    page = await client.get(url, follow_redirects=True)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = _csp(page)
    assets = _Assets()
    assets.feed(page.text)
    assert assets.scripts, "the page is an application: it loads scripts"
    for src in assets.scripts:
        assert _allows(policy, "script-src", urljoin(str(page.url), src)), src
    for href in assets.styles:
        assert _allows(policy, "style-src", urljoin(str(page.url), href)), href
    if assets.inline_scripts:
        assert "'unsafe-inline'" in policy["script-src"]
    return assets, page


async def test_the_api_document_still_loads_under_its_content_security_policy(world):
    assets, page = await _page_loads_under_its_policy(world.client, "/schema/swagger")
    assert "SwaggerUIBundle" in page.text
    assert _allows(_csp(page), "connect-src", f"{ORIGIN}/schema/openapi.json")
    assert (await world.client.get("/schema/openapi.json")).status_code == 200


async def test_the_admins_api_document_loads_under_its_content_security_policy(world):
    assets, page = await _page_loads_under_its_policy(world.client, "/admin/public/docs/")
    assert "SwaggerUIBundle" in page.text
    assert _allows(_csp(page), "connect-src", f"{ORIGIN}/admin/public/openapi.json")


async def test_the_admin_still_loads_under_its_content_security_policy(world):
    assets, page = await _page_loads_under_its_policy(world.client, "/admin/")
    policy = _csp(page)
    assert "'unsafe-inline'" not in policy["script-src"]
    for src in assets.scripts + assets.styles:
        asset = await world.client.get(urljoin(str(page.url), src))
        assert asset.status_code == 200, src
        _assert_security_headers(asset)
    # The admin's own API (what the page calls) answers under the same policy.
    assert _allows(policy, "connect-src", f"{ORIGIN}/admin/api/meta/")
    meta = await world.client.get("/admin/public/meta/")
    assert meta.status_code == 200 and re.search("管理后台", meta.text)
