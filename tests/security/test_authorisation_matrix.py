"""Who may call what: every route of the API × every role, and the answer each must get.

The matrix below is the reference for access. Columns, in this order:

    anon  nobody logged in
    opA   operator A (运营商甲), lessee of lease X, party to contract X, applicant in the registry
    opB   operator B (运营商乙), lessee of lease Y, party to contract Y
    stX   street X (富春街道): community X, its spaces, listing, lease, invoices, contract, flag
    stY   street Y (银湖街道), beside street X in district A
    dA    district A (富阳区), over streets X and Y
    dB    district B (西湖区), another district
    city  the city committee (市建委)
    own   the state-owned owner (富阳城投) in district A, owner of its own space only
    aud   the auditor: reads everything, changes nothing
    res   a resident of community X (江滨社区), in a household the street has confirmed

Outcomes: ok (2xx) · 401 not logged in · 403 role not allowed · 404 the object is in another scope, answered
as if it did not exist · 422 an id in the body outside the caller's scope, answered like an unknown id.

Which roles a route serves at all is its guard (core/auth.py `requires`), checked before the body or the query
is read: a role outside it gets 403 whatever it sends, invalid and unreadable input included.

A row names the object its path points at: unless the builder says otherwise it is street X's or operator A's
(community X, need X, space X, listing X, lease X, invoice X, contract X, operator A's approved application);
a batch is one still being composed, which only the city committee and auditors see.
Every refused write is checked to have left the database exactly as it was.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from piccolo.engine import engine_finder

from core import clock
from core.accounts.tables import Role
from core.auth import PUBLIC_PATHS, RoleGuard
from core.db import transaction
from core.payments import webhooks
from core.settings import get_settings
from leasing import service as leasing
from providers.tables import Listing
from residents import jobs as residents_jobs
from residents import repository as residents_repo
from residents import service as residents
from scheduler import jobs as scheduler
from tests.leasing.helpers import lease, listing, space
from tests.market.helpers import community, community_payload, contract, listed_operators, need
from tests.providers.helpers import approve, operator_payload, submitted_self_application

ROLES = ("anon", "opA", "opB", "stX", "stY", "dA", "dB", "city", "own", "aud", "res")
# Operators A and B are companies registered and listed through the registry, so they have profiles.
USERS = {
    "anon": None,
    "opA": "op_a",
    "opB": "op_b",
    "stX": "street_x",
    "stY": "street_y",
    "dA": "district",
    "dB": "district_b",
    "city": "city",
    "own": "owner",
    "aud": "auditor",
    "res": "resident",
}
OK = "ok"

# Outside the matrix: OpenAPI documents with their assets, the admin site (its own login), the metrics (their
# own token, tests/ecosystem/test_metrics.py) and, in development only, the caught mail.
DOCUMENTATION = re.compile(r"^/(schema|api-docs-assets|dev/mail|metrics)")
# Outside it too: the pages (web/), which log in by session cookie with CSRF, not by bearer token;
# tests/web opens every page as each role that may see it and as one that may not.
DOCUMENTATION = re.compile(DOCUMENTATION.pattern + r"|^/(?!api/|health$)")

MATRIX: dict[tuple[str, str], str] = {
    # anon opA  opB  stX  stY  dA   dB   city own  aud  res
    # Public
    ("GET", "/health"): "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    ("POST", "/api/v1/auth/login"): "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    ("GET", "/api/v1/public/operators"): "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    ("GET", "/api/v1/public/operators.csv"): "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    ("GET", "/api/v1/public/operators.xlsx"): "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    ("GET", "/api/v1/public/operators/{operator_id}/listings"): "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    ("GET", "/api/v1/public/batches"): "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    ("GET", "/api/v1/public/batches/{batch_id}"): "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    ("POST", "/api/v1/public/batches/{batch_id}/objections"): "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    ("GET", "/api/v1/public/categories"): "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    ("POST", "/api/v1/public/operator-registrations"): "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    ("POST", "/api/v1/webhooks/payments"): "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    # Accounts and audit
    ("GET", "/api/v1/me"): "401  ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    ("GET", "/api/v1/orgs"): "401  ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    ("POST", "/api/v1/orgs"): "401  403  403  ok   403  ok   403  ok   403  403  403",
    ("GET", "/api/v1/orgs/{org_id}"): "401  404  404  ok   404  ok   404  ok   404  ok   404",
    ("GET", "/api/v1/users"): "401  ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    ("POST", "/api/v1/users"): "401  403  403  ok   404  ok   404  ok   403  403  403",
    ("GET", "/api/v1/users/{user_id}"): "401  404  404  ok   404  ok   404  ok   404  ok   404",
    ("GET", "/api/v1/audit"): "401  403  403  403  403  403  403  ok   403  ok   403",
    # Registry: operators, applications, batches, evaluations, proposals
    ("POST", "/api/v1/categories"): "401  403  403  403  403  403  403  ok   403  403  403",
    ("GET", "/api/v1/calendar/days"): "401  403  403  403  403  403  403  ok   403  403  403",
    ("POST", "/api/v1/calendar/days"): "401  403  403  403  403  403  403  ok   403  403  403",
    ("PATCH", "/api/v1/calendar/days/{day}"): "401  403  403  403  403  403  403  ok   403  403  403",
    ("DELETE", "/api/v1/calendar/days/{day}"): "401  403  403  403  403  403  403  ok   403  403  403",
    ("GET", "/api/v1/operators"): "401  ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    ("POST", "/api/v1/operators"): "401  403  403  ok   ok   ok   ok   ok   403  403  403",
    ("GET", "/api/v1/operators/{operator_id}"): "401  ok   404  ok   ok   ok   ok   ok   404  ok   404",
    ("PATCH", "/api/v1/operators/{operator_id}"): "401  ok   404  403  403  403  403  ok   403  403  403",
    ("POST", "/api/v1/operators/{operator_id}/certificates"): "401  ok   404  403  403  403  403  ok   403  403  403",
    ("GET", "/api/v1/operators/{operator_id}/evaluations"): "401  ok   404  ok   ok   ok   ok   ok   404  ok   404",
    ("POST", "/api/v1/operators/{operator_id}/status"): "401  403  403  403  403  403  403  ok   403  403  403",
    ("GET", "/api/v1/applications"): "401  ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    ("POST", "/api/v1/applications"): "401  ok   404  403  403  403  403  403  403  403  403",
    ("GET", "/api/v1/applications/{application_id}"): "401  ok   404  404  404  404  404  ok   404  ok   404",
    ("PATCH", "/api/v1/applications/{application_id}"): "401  ok   404  404  404  404  404  403  403  403  403",
    ("POST", "/api/v1/applications/{application_id}/submit"): "401  ok   404  404  404  404  404  403  403  403  403",
    (
        "POST",
        "/api/v1/applications/{application_id}/start-review",
    ): "401  403  403  403  403  403  403  ok   403  403  403",
    ("POST", "/api/v1/applications/{application_id}/decision"): "401  403  403  403  403  403  403  ok   403  403  403",
    ("POST", "/api/v1/applications/{application_id}/renewal"): "401  ok   404  404  404  404  404  403  403  403  403",
    ("GET", "/api/v1/batches"): "401  ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    ("POST", "/api/v1/batches"): "401  403  403  403  403  403  403  ok   403  403  403",
    ("GET", "/api/v1/batches/{batch_id}"): "401  404  404  404  404  404  404  ok   404  ok   404",
    ("POST", "/api/v1/batches/{batch_id}/entries"): "401  403  403  403  403  403  403  ok   403  403  403",
    ("POST", "/api/v1/batches/{batch_id}/notice"): "401  403  403  403  403  403  403  ok   403  403  403",
    ("POST", "/api/v1/batches/{batch_id}/objections"): "401  ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    ("GET", "/api/v1/batches/{batch_id}/objections"): "401  403  403  403  403  403  403  ok   403  403  403",
    ("POST", "/api/v1/batches/{batch_id}/publish"): "401  403  403  403  403  403  403  ok   403  403  403",
    ("POST", "/api/v1/objections/{objection_id}/decision"): "401  403  403  403  403  403  403  ok   403  403  403",
    ("POST", "/api/v1/evaluations"): "401  403  403  ok   403  ok   403  ok   403  403  403",
    ("GET", "/api/v1/registry/proposals"): "401  403  403  403  403  403  403  ok   403  403  403",
    ("POST", "/api/v1/registry/proposals/run"): "401  403  403  403  403  403  403  ok   403  403  403",
    (
        "POST",
        "/api/v1/registry/proposals/{proposal_id}/confirm",
    ): "401  403  403  403  403  403  403  ok   403  403  403",
    (
        "POST",
        "/api/v1/registry/proposals/{proposal_id}/dismiss",
    ): "401  403  403  403  403  403  403  ok   403  403  403",
    # Market: communities, needs, allocation, contracts, ledger, balance, subsidies
    ("GET", "/api/v1/communities"): "401  ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    ("POST", "/api/v1/communities"): "401  403  403  ok   422  ok   422  ok   403  403  403",
    ("GET", "/api/v1/communities/{community_id}"): "401  ok   404  ok   404  ok   404  ok   404  ok   404",
    ("PATCH", "/api/v1/communities/{community_id}"): "401  403  403  ok   404  ok   404  ok   403  403  403",
    ("POST", "/api/v1/communities/{community_id}/needs"): "401  403  403  ok   404  ok   404  ok   403  403  403",
    ("GET", "/api/v1/communities/{community_id}/matches"): "401  404  404  ok   404  ok   404  ok   404  ok   404",
    ("GET", "/api/v1/communities/{community_id}/ledger"): "401  ok   404  ok   404  ok   404  ok   404  ok   404",
    ("POST", "/api/v1/communities/{community_id}/ledger"): "401  403  403  ok   404  ok   404  ok   403  403  403",
    ("GET", "/api/v1/communities/{community_id}/balance"): "401  ok   404  ok   404  ok   404  ok   404  ok   404",
    # Community fund
    ("POST", "/api/v1/communities/{community_id}/fund"): "401  403  403  ok   404  ok   404  ok   403  403  403",
    ("GET", "/api/v1/communities/{community_id}/fund"): "401  ok   404  ok   404  ok   404  ok   404  ok   404",
    (
        "GET",
        "/api/v1/communities/{community_id}/fund/movements",
    ): "401  ok   404  ok   404  ok   404  ok   404  ok   404",
    (
        "POST",
        "/api/v1/communities/{community_id}/fund/contributions",
    ): "401  403  403  ok   404  ok   404  ok   403  403  403",
    ("POST", "/api/v1/communities/{community_id}/fund/grants"): "401  403  403  ok   404  ok   404  ok   403  403  403",
    # Industry alliances (the scene's: operator A leads, operator B is its childcare specialist)
    ("POST", "/api/v1/alliances"): "401  ok   403  403  403  403  403  ok   403  403  403",
    ("GET", "/api/v1/alliances"): "401  ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    ("GET", "/api/v1/alliances/{alliance_id}"): "401  ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    ("POST", "/api/v1/alliances/{alliance_id}/approve"): "401  403  403  403  403  403  403  ok   403  403  403",
    ("GET", "/api/v1/alliances/{alliance_id}/communities"): "401  ok   ok   ok   ok   ok   ok   ok   403  ok   403",
    ("POST", "/api/v1/alliances/{alliance_id}/members"): "401  403  403  403  403  403  403  ok   403  403  403",
    (
        "POST",
        "/api/v1/alliances/{alliance_id}/members/{member_id}/leave",
    ): "401  403  403  403  403  403  403  ok   403  403  403",
    # State-owned platforms (the scene's is 富阳城投, the owner's company, in district A)
    ("POST", "/api/v1/platforms"): "401  403  403  403  403  403  403  ok   403  403  403",
    ("GET", "/api/v1/platforms"): "401  ok   ok   ok   ok   ok   ok   ok   ok   ok   403",
    ("GET", "/api/v1/platforms/{platform_id}"): "401  404  404  ok   ok   ok   ok   ok   ok   ok   403",
    ("POST", "/api/v1/platforms/{platform_id}/communities"): "401  403  403  403  403  403  403  ok   403  403  403",
    (
        "POST",
        "/api/v1/platforms/{platform_id}/master-contract",
    ): "401  403  403  403  403  403  403  ok   403  403  403",
    ("GET", "/api/v1/platforms/{platform_id}/portfolio"): "401  404  404  ok   ok   ok   ok   ok   ok   ok   403",
    ("GET", "/api/v1/communities/{community_id}/report.html"): "401  404  404  ok   404  ok   404  ok   404  ok   404",
    ("GET", "/api/v1/communities/{community_id}/report.xlsx"): "401  404  404  ok   404  ok   404  ok   404  ok   404",
    ("GET", "/api/v1/needs"): "401  ok   ok   ok   ok   ok   ok   ok   403  ok   403",
    ("GET", "/api/v1/needs/{need_id}"): "401  ok   ok   ok   404  ok   404  ok   404  ok   404",
    ("POST", "/api/v1/needs/{need_id}/close"): "401  403  403  ok   404  ok   404  ok   403  403  403",
    ("POST", "/api/v1/allocation-plans"): "401  403  403  403  403  ok   403  ok   403  403  403",
    ("GET", "/api/v1/allocation-plans/{plan_id}"): "401  404  404  404  404  ok   404  ok   404  ok   404",
    (
        "POST",
        "/api/v1/allocation-plans/{plan_id}/lines/{line_id}/accept",
    ): "401  403  403  403  403  ok   404  ok   403  403  403",
    (
        "POST",
        "/api/v1/allocation-plans/{plan_id}/lines/{line_id}/reject",
    ): "401  403  403  403  403  ok   404  ok   403  403  403",
    ("GET", "/api/v1/contracts"): "401  ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    ("POST", "/api/v1/contracts"): "401  403  403  ok   404  ok   404  ok   403  403  403",
    ("GET", "/api/v1/contracts/{contract_id}"): "401  ok   404  ok   404  ok   404  ok   404  ok   404",
    ("PATCH", "/api/v1/contracts/{contract_id}"): "401  403  403  ok   404  ok   404  ok   403  403  403",
    ("POST", "/api/v1/contracts/{contract_id}/sign"): "401  403  403  ok   404  ok   404  ok   403  403  403",
    ("POST", "/api/v1/contracts/{contract_id}/renew"): "401  403  403  ok   404  ok   404  ok   403  403  403",
    ("POST", "/api/v1/contracts/{contract_id}/terminate"): "401  403  403  ok   404  ok   404  ok   403  403  403",
    (
        "POST",
        "/api/v1/contracts/{contract_id}/monthly-reports",
    ): "401  ok   404  403  403  403  403  403  403  403  403",
    ("POST", "/api/v1/contracts/{contract_id}/complaints"): "401  403  403  ok   404  ok   404  ok   403  403  403",
    (
        "POST",
        "/api/v1/contracts/{contract_id}/registry-decision",
    ): "401  403  403  ok   404  ok   404  ok   403  403  403",
    ("GET", "/api/v1/contracts/{contract_id}/complaints"): "401  ok   404  ok   404  ok   404  ok   404  ok   404",
    ("GET", "/api/v1/contracts/{contract_id}/lines"): "401  ok   404  ok   404  ok   404  ok   404  ok   404",
    ("POST", "/api/v1/contracts/{contract_id}/fee-payments"): "401  403  403  ok   404  ok   404  ok   403  403  403",
    (
        "POST",
        "/api/v1/contracts/{contract_id}/franchise-invoices",
    ): "401  403  403  ok   404  ok   404  ok   403  403  403",
    ("GET", "/api/v1/balance/overview"): "401  403  403  ok   ok   ok   ok   ok   403  ok   403",
    ("POST", "/api/v1/subsidies/hangzhou-old-estate"): "401  ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    ("POST", "/api/v1/subsidies/fuyang-award"): "401  ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    ("GET", "/api/v1/spaces"): "401  ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    ("POST", "/api/v1/spaces"): "401  403  403  ok   404  ok   404  ok   ok   403  403",
    ("GET", "/api/v1/spaces/{space_id}"): "401  404  404  ok   404  ok   404  ok   404  ok   404",
    ("PATCH", "/api/v1/spaces/{space_id}"): "401  403  403  ok   404  ok   404  ok   404  403  403",
    ("POST", "/api/v1/spaces/{space_id}/listings"): "401  403  403  ok   404  ok   404  ok   404  403  403",
    ("GET", "/api/v1/space-listings"): "401  ok   ok   ok   ok   ok   ok   ok   ok   ok   403",
    ("GET", "/api/v1/space-listings/{listing_id}"): "401  ok   ok   ok   404  ok   404  ok   404  ok   404",
    (
        "POST",
        "/api/v1/space-listings/{listing_id}/applications",
    ): "401  ok   ok   403  403  403  403  403  403  403  403",
    (
        "GET",
        "/api/v1/space-listings/{listing_id}/applications",
    ): "401  ok   ok   ok   404  ok   404  ok   404  ok   404",
    (
        "POST",
        "/api/v1/space-listings/{listing_id}/applications/{application_id}/scores",
    ): "401  403  403  ok   404  403  403  403  403  403  403",
    ("POST", "/api/v1/space-listings/{listing_id}/award"): "401  403  403  ok   404  ok   404  ok   403  403  403",
    (
        "GET",
        "/api/v1/public/space-listings/{listing_id}/result",
    ): "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    ("POST", "/api/v1/space-listings/{listing_id}/cancel"): "401  403  403  ok   404  ok   404  ok   404  403  403",
    ("GET", "/api/v1/leases"): "401  ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    ("POST", "/api/v1/leases"): "401  403  403  ok   404  ok   404  ok   403  403  403",
    ("GET", "/api/v1/leases/{lease_id}"): "401  ok   404  ok   404  ok   404  ok   404  ok   404",
    ("POST", "/api/v1/leases/{lease_id}/renew"): "401  403  403  ok   404  ok   404  ok   403  403  403",
    ("POST", "/api/v1/leases/{lease_id}/terminate"): "401  403  403  ok   404  ok   404  ok   403  403  403",
    ("POST", "/api/v1/leases/{lease_id}/deposit-settlement"): "401  403  403  ok   404  ok   404  ok   403  403  403",
    ("GET", "/api/v1/rent-invoices"): "401  ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    ("GET", "/api/v1/rent-invoices/{invoice_id}"): "401  ok   404  ok   404  ok   404  ok   404  ok   404",
    ("GET", "/api/v1/rent-invoices/{invoice_id}/payments"): "401  ok   404  ok   404  ok   404  ok   404  ok   404",
    ("POST", "/api/v1/rent-invoices/{invoice_id}/payments"): "401  ok   404  403  403  403  403  403  403  403  403",
    ("GET", "/api/v1/leasing-figures"): "401  403  403  ok   ok   ok   ok   ok   403  ok   403",
    ("GET", "/api/v1/leasing-figures/export.xlsx"): "401  403  403  ok   ok   ok   ok   ok   403  ok   403",
    ("GET", "/api/v1/jobs"): "401  403  403  403  403  403  403  ok   403  ok   403",
    ("POST", "/api/v1/jobs/{name}/run"): "401  403  403  403  403  403  403  ok   403  403  403",
    ("GET", "/api/v1/job-runs"): "401  403  403  403  403  403  403  ok   403  ok   403",
    ("GET", "/api/v1/flags"): "401  ok   ok   ok   ok   ok   ok   ok   403  ok   403",
    ("POST", "/api/v1/flags/{flag_id}/acknowledge"): "401  403  403  ok   404  ok   404  ok   403  403  403",
    ("POST", "/api/v1/flags/{flag_id}/resolve"): "401  403  403  ok   404  ok   404  ok   403  403  403",
    ("GET", "/api/v1/reports/balance/{month}/report.html"): "401  403  403  403  403  403  403  ok   403  ok   403",
    ("GET", "/api/v1/reports/balance/{month}/report.xlsx"): "401  403  403  403  403  403  403  ok   403  ok   403",
    ("POST", "/api/v1/reports/balance/{month}/resend"): "401  403  403  403  403  403  403  ok   403  403  403",
    # Residents: one-time codes, households, polls and their results
    ("POST", "/api/v1/public/residents/codes"): "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    ("POST", "/api/v1/public/residents/sign-up"): "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    ("POST", "/api/v1/public/residents/login"): "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    ("GET", "/api/v1/public/polls/{poll_id}/result"): "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    ("GET", "/api/v1/public/poll-receipts/{receipt}"): "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    ("GET", "/api/v1/residents"): "401  403  403  ok   ok   ok   ok   ok   403  ok   403",
    ("GET", "/api/v1/residents/me"): "401  403  403  403  403  403  403  403  403  403  ok",
    ("GET", "/api/v1/residents/me/export"): "401  403  403  403  403  403  403  403  403  403  ok",
    ("GET", "/api/v1/households"): "401  403  403  ok   ok   ok   ok   ok   403  ok   403",
    ("POST", "/api/v1/households/{household_id}/confirm"): "401  403  403  ok   404  403  403  403  403  403  403",
    ("POST", "/api/v1/households/register/{community_id}"): "401  403  403  ok   404  403  403  403  403  403  403",
    ("POST", "/api/v1/polls"): "401  403  403  ok   422  403  403  403  403  403  403",
    ("GET", "/api/v1/polls"): "401  403  403  ok   ok   ok   ok   ok   403  ok   ok",
    ("GET", "/api/v1/polls/{poll_id}"): "401  403  403  ok   404  ok   404  ok   403  ok   ok",
    ("POST", "/api/v1/polls/{poll_id}/ballots"): "401  403  403  403  403  403  403  403  403  403  ok",
    ("POST", "/api/v1/polls/{poll_id}/decision"): "401  403  403  ok   404  403  403  403  403  403  403",
    # Residents' points and the time bank
    ("GET", "/api/v1/points/me"): "401  403  403  403  403  403  403  403  403  403  ok",
    ("GET", "/api/v1/points/me/statement"): "401  403  403  403  403  403  403  403  403  403  ok",
    ("POST", "/api/v1/points/activities"): "401  403  403  ok   422  403  403  403  403  403  403",
    ("GET", "/api/v1/points/activities"): "401  403  403  ok   ok   ok   ok   ok   403  ok   ok",
    ("POST", "/api/v1/points/activities/{activity_id}/signups"): "401  403  403  403  403  403  403  403  403  403  ok",
    ("POST", "/api/v1/points/signups/{signup_id}/confirm"): "401  403  403  ok   404  403  403  403  403  403  403",
    ("POST", "/api/v1/points/services"): "401  ok   403  403  403  403  403  403  403  403  403",
    ("GET", "/api/v1/points/services"): "401  ok   ok   ok   ok   ok   ok   ok   403  ok   ok",
    (
        "POST",
        "/api/v1/points/services/{service_id}/redemptions",
    ): "401  403  403  403  403  403  403  403  403  403  ok",
    ("GET", "/api/v1/points/redemptions"): "401  ok   ok   403  403  403  403  403  403  403  ok",
    (
        "POST",
        "/api/v1/points/redemptions/{redemption_id}/deliver",
    ): "401  ok   404  403  403  403  403  403  403  403  403",
    (
        "POST",
        "/api/v1/points/redemptions/{redemption_id}/cancel",
    ): "401  403  403  403  403  403  403  403  403  403  ok",
    (
        "GET",
        "/api/v1/points/communities/{community_id}/summary",
    ): "401  403  403  ok   404  ok   404  ok   403  ok   403",
    ("POST", "/api/v1/time-bank/withdrawals"): "401  403  403  403  403  403  403  403  403  403  ok",
    ("GET", "/api/v1/time-bank/withdrawals"): "401  403  403  ok   ok   ok   ok   ok   403  ok   ok",
    (
        "POST",
        "/api/v1/time-bank/withdrawals/{withdrawal_id}/confirm",
    ): "401  403  403  ok   404  403  403  403  403  403  403",
    ("POST", "/api/v1/time-bank/transfers"): "401  403  403  403  403  403  403  403  403  403  ok",
    # Satisfaction surveys (a surveyor, the one role outside these columns, is checked in tests/residents)
    ("GET", "/api/v1/surveys"): "401  403  403  ok   ok   ok   ok   ok   403  ok   ok",
    ("GET", "/api/v1/surveys/{survey_id}"): "401  403  403  ok   404  ok   404  ok   403  ok   ok",
    ("POST", "/api/v1/surveys/{survey_id}/answers"): "401  403  403  403  403  403  403  403  403  403  ok",
    ("POST", "/api/v1/surveys/{survey_id}/offline-uploads"): "401  403  403  403  403  403  403  403  403  403  403",
    ("GET", "/api/v1/surveys/{survey_id}/offline-uploads"): "401  403  403  ok   404  ok   404  ok   403  ok   403",
    ("POST", "/api/v1/communities/{community_id}/acceptance"): "401  403  403  ok   404  ok   404  ok   403  403  403",
    ("GET", "/api/v1/public/surveys/{survey_id}/result"): "ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok",
    # Last: the resident's account is gone after it.
    ("DELETE", "/api/v1/residents/me"): "401  403  403  403  403  403  403  403  403  403  ok",
}


def expectations(route: tuple[str, str]) -> dict[str, str]:
    cells = MATRIX[route].split()
    assert len(cells) == len(ROLES), route
    return dict(zip(ROLES, cells, strict=True))


def app_routes(app) -> set[tuple[str, str]]:
    """(method, path) of every handler, path parameters written without their type: {lease_id}."""
    found = set()
    for route in app.routes:
        for method in getattr(route, "methods", ()):
            if method in ("HEAD", "OPTIONS") or DOCUMENTATION.match(route.path):
                continue
            found.add((method, re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)))
    return found


# The scene ---------------------------------------------------------------------------------------


@dataclass
class Scene:
    world: Any
    ids: dict[str, int | str] = field(default_factory=dict)
    operators: dict[str, dict] = field(default_factory=dict)
    counter: itertools.count = field(default_factory=lambda: itertools.count(1))
    registry_contracts: list[int] = field(default_factory=list)  # operator E's, awaiting a decision
    clock: Any = None

    def next(self) -> int:
        return next(self.counter)

    @property
    def op_a(self) -> int:
        return self.operators["op_a"]["id"]

    @property
    def op_b(self) -> int:
        return self.operators["op_b"]["id"]


def ok(response, expected: int | None = None) -> dict:
    assert response.status_code == (expected or response.status_code) and response.is_success, response.text
    return response.json()


async def draft_application(world, username: str, operator_id: int, category: str) -> int:
    created = await world.post(
        username,
        "/api/v1/applications",
        json={"operator_id": operator_id, "channel": "self", "categories": [category], "statement": "社区服务经验五年"},
    )
    return (ok(created, 201))["id"]


async def approved_application(world, username: str, operator_id: int, category: str) -> int:
    application_id = await submitted_self_application(world, username, operator_id, (category,))
    await approve(world, application_id)
    return application_id


async def batch_with(world, scene: Scene, application_id: int) -> int:
    batch = ok(await world.post("city", "/api/v1/batches", json={"title": f"2027年第{scene.next()}批"}))
    ok(await world.post("city", f"/api/v1/batches/{batch['id']}/entries", json={"application_ids": [application_id]}))
    return batch["id"]


async def build_scene(world, frozen_clock) -> Scene:
    """Two streets' worth of everything, a district B community, four listed operators and a suspended one;
    today 2026-12-09."""
    scene = Scene(world, clock=frozen_clock)
    scene.operators = await listed_operators(
        world,
        frozen_clock,
        {
            username: {"name": name, "categories": ("childcare",), "capacity": 50}
            for username, name in (
                ("op_a", "运营商甲社区服务有限公司"),
                ("op_b", "运营商乙社区服务有限公司"),
                ("op_c", "丙家托育有限公司"),
                ("op_d", "丁家托育有限公司"),
                ("op_e", "戊家托育有限公司"),
            )
        },
    )
    ids = scene.ids
    ids["operator_id"] = scene.op_a
    ids["org_id"] = world.org_id("street_x")
    ids["user_id"] = world.user_ids["street_x"]
    mine = (ok(await world.get("op_a", "/api/v1/applications")))["items"]
    ids["application_id"] = next(a["id"] for a in mine if a["state"] == "approved")
    published = (ok(await world.get("city", "/api/v1/public/batches")))["items"]
    ids["batch_id"] = published[0]["id"]

    cx = await community(world, "street_x", "江滨社区")
    cy = await community(world, "street_y", "彩虹社区")
    cz = await community(world, "street_z", "文新社区", user="district_b")
    ids.update(community_id=cx["id"], community_y=cy["id"], community_z=cz["id"])
    ids["contract_id"] = (await contract(world, "street_x", cx["id"], scene.op_a))["id"]
    ids["contract_y"] = (await contract(world, "street_y", cy["id"], scene.op_b))["id"]
    ids["draft_contract"] = (
        await contract(
            world, "street_x", cx["id"], scene.op_a, sign=False, starts_on="2029-01-01", ends_on="2030-01-01"
        )
    )["id"]
    # Operator E holds contracts in community X and is then suspended: each waits for street X's decision.
    op_e = scene.operators["op_e"]["id"]
    scene.registry_contracts = [(await contract(world, "street_x", cx["id"], op_e))["id"] for _ in range(4)]
    ok(await world.post("city", f"/api/v1/operators/{op_e}/status", json={"status": "suspended", "reason": "整改"}))
    ids["need_id"] = (await need(world, "street_x", cx["id"], "childcare"))["id"]
    ids["need_y"] = (await need(world, "street_y", cy["id"], "childcare"))["id"]
    ids["need_z"] = (await need(world, "district_b", cz["id"], "childcare"))["id"]

    ids["space_id"] = (await space(world, "street_x", community_id=cx["id"]))["id"]
    ids["owner_space"] = (await space(world, "owner", community_id=cx["id"]))["id"]
    ids["space_y"] = (await space(world, "street_y", community_id=cy["id"]))["id"]
    ids["listing_id"] = (await listing(world, ids["space_id"]))["id"]
    ids["listing_y"] = (await listing(world, ids["space_y"], user="street_y"))["id"]
    ids["lease_application"] = (
        ok(
            await world.post(
                "op_a",
                f"/api/v1/space-listings/{ids['listing_id']}/applications",
                json={"proposed_use": "childcare", "term_months": 36, "proposed_rent_per_m2_month": 4_600},
            ),
            201,
        )
    )["id"]
    leased_x = await space(world, "street_x", community_id=cx["id"], address="江滨路 10 号")
    leased_y = await space(world, "street_y", community_id=cy["id"], address="彩虹路 2 号")
    ids["lease_id"] = (await lease(world, leased_x["id"], scene.op_a))["id"]
    ids["lease_y"] = (await lease(world, leased_y["id"], scene.op_b, user="street_y"))["id"]
    await leasing.generate_invoices()
    ids["invoice_id"] = (
        ok(await world.get("street_x", "/api/v1/rent-invoices", params={"lease_id": ids["lease_id"]}))
    )["items"][0]["id"]
    ids["invoice_y"] = (ok(await world.get("street_y", "/api/v1/rent-invoices", params={"lease_id": ids["lease_y"]})))[
        "items"
    ][0]["id"]

    # Registry work in progress: low evaluations make proposals, batches wait in each state.
    for username in ("op_c", "op_d"):
        ok(
            await world.post(
                "city",
                "/api/v1/evaluations",
                json={
                    "operator_id": scene.operators[username]["id"],
                    "score": 40,
                    "satisfaction": "50",
                    "complaints": 12,
                    "period_start": "2026-01-01",
                    "period_end": "2026-07-01",
                    "reason": "半年度考核",
                },
            )
        )
    ok(await world.post("city", "/api/v1/registry/proposals/run"))
    proposals = (ok(await world.get("city", "/api/v1/registry/proposals")))["items"]
    by_operator = {p["operator_id"]: p["id"] for p in proposals}
    ids["proposal_id"] = by_operator[scene.operators["op_c"]["id"]]
    ids["proposal_d"] = by_operator[scene.operators["op_d"]["id"]]
    op_d = scene.operators["op_d"]["id"]
    ids["publishable_batch"] = await batch_with(
        world, scene, await approved_application(world, "op_d", op_d, "culture")
    )
    ok(await world.post("city", f"/api/v1/batches/{ids['publishable_batch']}/notice", json={}))
    frozen_clock.advance(days=8)
    objected = await approved_application(world, "op_d", op_d, "health")
    ids["notice_batch"] = await batch_with(world, scene, objected)
    ids["objected_application"] = objected
    ok(await world.post("city", f"/api/v1/batches/{ids['notice_batch']}/notice", json={}))
    ids["objection_id"] = (
        ok(
            await world.post(
                "street_y",
                f"/api/v1/batches/{ids['notice_batch']}/objections",
                json={"application_id": objected, "text": "该企业存在违规收费情况"},
            )
        )
    )["id"]

    ids["draft_batch"] = (ok(await world.post("city", "/api/v1/batches", json={"title": "2027年第一批"})))["id"]

    # District A's allocation plan, and a flag on community X's balance.
    plan = ok(
        await world.post("district", "/api/v1/allocation-plans", json={"district_id": world.org_id("district_a")})
    )
    ids["plan_id"] = plan["id"]
    ok(
        await world.post(
            "street_x",
            f"/api/v1/communities/{cx['id']}/ledger",
            json={"month": "2026-11-01", "kind": "utilities", "amount": 500_000, "reference": "SD-2026-11"},
        )
    )
    await scheduler.balance_snapshot(date(2026, 11, 1))
    flags = (ok(await world.get("street_x", "/api/v1/flags")))["items"]
    ids["flag_id"] = next(f["id"] for f in flags if f["subject_id"] == cx["id"])
    ok(await world.post("street_x", f"/api/v1/communities/{cx['id']}/fund", json={"name": "江滨社区基金"}))
    ok(
        await world.post(
            "street_x",
            f"/api/v1/communities/{cx['id']}/fund/contributions",
            json={"kind": "donation", "amount": 1_000_000, "counterparty": "爱心企业", "reference": "JZ-SCENE"},
        )
    )
    # Operator A is also listed as an integrated operator, so it can lead the scene's alliance.
    async with transaction():
        await Listing.insert(
            Listing(
                operator=scene.op_a,
                category="integrated",
                batch=ids["batch_id"],
                application=ids["application_id"],
                valid_from=clock.today() - timedelta(days=30),
                valid_until=clock.today() + timedelta(days=700),
            )
        )
    ids["alliance_id"] = ok(await world.post("op_a", "/api/v1/alliances", json=_alliance_body(scene)), 201)["id"]
    ok(await world.post("city", f"/api/v1/alliances/{ids['alliance_id']}/approve", json={"reason": "章程齐备"}))
    ids["platform_id"] = (
        ok(
            await world.post(
                "city",
                "/api/v1/platforms",
                json={
                    "org_id": world.org_id("owner"),
                    "level": "district",
                    "district_id": world.org_id("district_a"),
                    "reason": "区级国企平台试点",
                },
            )
        )
    )["id"]
    ids.update(name="lifecycle", month="2026-11")
    await resident_scene(scene, frozen_clock)
    await points_scene(scene)
    return scene


RESIDENT_PHONE = "13800009999"


async def resident_scene(scene: Scene, frozen_clock) -> None:
    """The world's resident lives in a confirmed household of community X; a closed poll there holds their
    ballot (its receipt kept), and an open one waits for ballots."""
    world, ids = scene.world, scene.ids
    now = clock.now()
    async with transaction():
        household = await residents_repo.household_id(ids["community_id"], "1", "1", "101", now)
        await residents_repo.insert_resident(
            user_id=world.user_ids["resident"], phone=RESIDENT_PHONE, name="居民甲", household_id=household, now=now
        )
    ids["household_id"] = household
    ok(await world.post("street_x", f"/api/v1/households/{household}/confirm", json={}))
    body = {
        "need_id": ids["need_id"],
        "title": "托育服务运营商选择",
        "opens_at": now.isoformat(),
        "quorum": "0.3",
        "operator_ids": [scene.op_a, scene.op_b],
    }
    closing = ok(
        await world.post("street_x", "/api/v1/polls", json={**body, "closes_at": (now + timedelta(days=1)).isoformat()})
    )
    ids["poll_id"] = closing["id"]
    voted = ok(
        await world.post(
            "resident", f"/api/v1/polls/{closing['id']}/ballots", json={"option_id": closing["options"][0]["id"]}
        )
    )
    ids["receipt"] = voted["receipt"]
    open_poll = ok(
        await world.post(
            "street_x", "/api/v1/polls", json={**body, "closes_at": (now + timedelta(days=60)).isoformat()}
        )
    )
    ids["open_poll"] = open_poll["id"]
    ids["open_option"] = open_poll["options"][0]["id"]
    frozen_clock.advance(days=1, seconds=1)
    await residents_jobs.close_polls()


async def points_scene(scene: Scene) -> None:
    """The resident has earned points (volunteering, their ballot) and time-bank hours; operator A offers a
    point-priced service in community X; an activity, a sign-up and a withdrawal wait for the street; a second
    resident of the city can be given hours."""
    world, ids = scene.world, scene.ids
    now = clock.now()

    async def activity(kind: str, **pricing) -> int:
        body = {
            "community_id": ids["community_id"],
            "title": "社区志愿服务",
            "kind": kind,
            "starts_at": now.isoformat(),
            "ends_at": (now + timedelta(days=30)).isoformat(),
            **pricing,
        }
        return ok(await world.post("street_x", "/api/v1/points/activities", json=body), 201)["id"]

    async def served(activity_id: int, hours: str | None) -> int:
        signup = ok(await world.post("resident", f"/api/v1/points/activities/{activity_id}/signups"), 201)["id"]
        if hours is not None:
            ok(await world.post("street_x", f"/api/v1/points/signups/{signup}/confirm", json={"hours": hours}))
        return signup

    await served(await activity("ordinary", points_per_hour=10), "10")
    await served(await activity("elderly_care"), "10")
    ids["signup_id"] = await served(await activity("ordinary", fixed_points=20), None)
    ids["activity_id"] = await activity("ordinary", fixed_points=5)
    ids["service_id"] = ok(
        await world.post(
            "op_a",
            "/api/v1/points/services",
            json={
                "community_id": ids["community_id"],
                "title": "上门理发",
                "price_points": 5,
                "capacity": 100,
                "opens_at": now.isoformat(),
                "closes_at": (now + timedelta(days=60)).isoformat(),
            },
        ),
        201,
    )["id"]
    ids["withdrawal_id"] = ok(await world.post("resident", "/api/v1/time-bank/withdrawals", json={"hours": "1"}), 201)[
        "id"
    ]
    phone = str(next(_phones))
    ok(
        await world.client.post(
            "/api/v1/public/residents/sign-up",
            json={
                "phone": phone,
                "code": await fresh_code(phone),
                "name": "居民丙",
                "community_id": ids["community_y"],
                "building": "1",
                "unit": "1",
                "room": "101",
            },
        ),
        201,
    )
    ids["family_phone"] = phone


async def fresh_code(phone: str) -> str:
    """A code for `phone` as the SMS would carry it, stored without asking the API (whose limits would stop
    a whole row of roles asking for one)."""
    code = f"{next(_codes):06d}"
    now = clock.now()
    async with transaction():
        await residents_repo.insert_code(
            phone=phone,
            code_hash=residents._code_hash(phone, code),
            client="matrix",
            now=now,
            expires_at=now + timedelta(minutes=5),
        )
    return code


_codes = itertools.count(100_000)
_phones = itertools.count(13_900_000_001)


# Requests ----------------------------------------------------------------------------------------


@dataclass
class Call:
    path: str
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


Builder = Callable[[Scene, str], Awaitable[Call]]
BUILDERS: dict[tuple[str, str], Builder] = {}
# Rows whose allowed call uses its object up (a need closes, a draft is signed): every allowed role after
# the first gets a fresh one from the builder.
CONSUMING: set[tuple[str, str]] = set()


def builds(method: str, path: str, *, consumes: bool = False):
    def register(builder: Builder) -> Builder:
        BUILDERS[(method, path)] = builder
        if consumes:
            CONSUMING.add((method, path))
        return builder

    return register


def at(scene: Scene, template: str, **overrides) -> str:
    """The path with every parameter taken from the scene (or the overrides)."""
    return re.sub(r"\{(\w+)\}", lambda m: str(overrides.get(m.group(1), scene.ids.get(m.group(1)))), template)


async def default_call(scene: Scene, template: str) -> Call:
    return Call(at(scene, template))


def with_body(method: str, template: str, body: Callable[[Scene], Any], *, consumes: bool = False) -> None:
    async def builder(scene: Scene, _: str) -> Call:
        return Call(at(scene, template), json=body(scene))

    builds(method, template, consumes=consumes)(builder)


with_body("POST", "/api/v1/auth/login", lambda s: {"username": "auditor", "password": "correct-horse-battery"})
with_body(
    "POST",
    "/api/v1/public/operator-registrations",
    lambda s: {
        **operator_payload(s.world, f"自主注册企业{s.next()}"),
        "username": f"self_registered_{s.next()}",
        "password": "operator-pass-1",
    },
    consumes=True,
)
with_body(
    "POST",
    "/api/v1/orgs",
    lambda s: {"name": f"新建社区{s.next()}", "kind": "community", "parent_id": s.world.org_id("street_x")},
    consumes=True,
)
with_body(
    "POST",
    "/api/v1/users",
    lambda s: {
        "username": f"street_clerk_{s.next()}",
        "password": "long-enough-password",
        "email": f"clerk{s.next()}@example.org",
        "grants": [{"role": "street", "org_id": s.world.org_id("street_x")}],
    },
    consumes=True,
)
# Days and phones of their own, leaving the scene's counter (which dates other records) as it was.
CALENDAR_DAYS = itertools.count(1)
with_body(
    "POST",
    "/api/v1/calendar/days",
    lambda s: {"day": f"2030-01-{next(CALENDAR_DAYS) % 28 + 1:02d}", "kind": "holiday", "name": "测试假日"},
    consumes=True,
)


@builds("PATCH", "/api/v1/calendar/days/{day}")
async def _change_day(scene: Scene, template: str) -> Call:
    return Call(at(scene, template, day="2026-10-01"), json={"name": "国庆节"})


@builds("DELETE", "/api/v1/calendar/days/{day}", consumes=True)
async def _delete_day(scene: Scene, template: str) -> Call:
    day = f"2031-02-{next(CALENDAR_DAYS) % 28 + 1:02d}"
    await scene.world.post("city", "/api/v1/calendar/days", json={"day": day, "kind": "workday", "name": "测试"})
    return Call(at(scene, template, day=day))


@builds("POST", "/api/v1/public/batches/{batch_id}/objections", consumes=True)
async def _object_publicly(scene: Scene, template: str) -> Call:
    return Call(
        at(scene, template, batch_id=scene.ids["notice_batch"]),
        json={
            "name": "王五",
            "phone": f"139{next(CALENDAR_DAYS):08d}",
            "application_id": scene.ids["objected_application"],
            "text": "该企业曾被投诉多次",
        },
    )


with_body(
    "POST", "/api/v1/categories", lambda s: {"code": f"kind_{s.next()}", "name": f"新类别{s.next()}"}, consumes=True
)
with_body("POST", "/api/v1/operators", lambda s: operator_payload(s.world, f"街道推荐企业{s.next()}"), consumes=True)
with_body("PATCH", "/api/v1/operators/{operator_id}", lambda s: {"staff_count": 41})
with_body("POST", "/api/v1/operators/{operator_id}/certificates", lambda s: {"name": "托育机构备案", "number": "TY-1"})
with_body(
    "POST",
    "/api/v1/applications",
    lambda s: {"operator_id": s.op_a, "channel": "self", "categories": ["health"], "statement": "健康服务团队十人"},
)
with_body("POST", "/api/v1/batches", lambda s: {"title": f"2027年第{s.next()}批"}, consumes=True)
with_body(
    "POST",
    "/api/v1/evaluations",
    lambda s: {
        "operator_id": s.op_a,
        "score": 92,
        "satisfaction": "95",
        "complaints": 0,
        "period_start": "2026-01-01",
        "period_end": "2026-07-01",
        "reason": "半年度考核",
    },
)
with_body(
    "POST", "/api/v1/communities", lambda s: community_payload(s.world, "street_x", f"新社区{s.next()}"), consumes=True
)
with_body("PATCH", "/api/v1/communities/{community_id}", lambda s: {"households": 3300})
with_body("POST", "/api/v1/communities/{community_id}/needs", lambda s: {"category": "elderly", "text": "助餐"})
with_body(
    "POST",
    "/api/v1/communities/{community_id}/ledger",
    lambda s: {"month": "2026-11-01", "kind": "maintenance", "amount": 20_000, "reference": f"WX-{s.next()}"},
    consumes=True,
)
# Fund references and communities of their own, leaving the scene's counter as it was.
FUND_REFERENCES = itertools.count(1)
with_body(
    "POST",
    "/api/v1/communities/{community_id}/fund/contributions",
    lambda s: {
        "kind": "donation",
        "amount": 10_000,
        "counterparty": "爱心企业",
        "reference": f"JZ-{next(FUND_REFERENCES)}",
    },
    consumes=True,
)
with_body(
    "POST",
    "/api/v1/communities/{community_id}/fund/grants",
    lambda s: {
        "amount": 100,
        "purpose": "邻里节活动",
        "counterparty": "居民议事会",
        "reference": f"FP-{next(FUND_REFERENCES)}",
    },
    consumes=True,
)


@builds("POST", "/api/v1/contracts/{contract_id}/franchise-invoices", consumes=True)
async def _invoice_franchise(scene: Scene, template: str) -> Call:
    franchise = await contract(
        scene.world,
        "street_x",
        scene.ids["community_id"],
        scene.op_a,
        kind="franchise",
        scope=f"特许经营范围{next(FUND_REFERENCES)}",
        franchise_fee=120_000,
    )
    return Call(at(scene, template, contract_id=franchise["id"]), json={"month": "2026-11-01", "revenue": 0})


def _alliance_body(scene: Scene) -> dict:
    return {
        "name": f"产业联盟{next(FUND_REFERENCES)}",
        "lead_operator_id": scene.op_a,
        "charter_ref": "联盟章程",
        "members": [
            {"operator_id": scene.op_a, "role": "integrated"},
            {"operator_id": scene.op_b, "role": "specialist", "category": "childcare"},
        ],
    }


@builds("POST", "/api/v1/alliances", consumes=True)
async def _propose_alliance(scene: Scene, template: str) -> Call:
    return Call(at(scene, template), json=_alliance_body(scene))


@builds("POST", "/api/v1/alliances/{alliance_id}/approve", consumes=True)
async def _approve_alliance(scene: Scene, template: str) -> Call:
    proposed = ok(await scene.world.post("op_a", "/api/v1/alliances", json=_alliance_body(scene)), 201)
    return Call(at(scene, template, alliance_id=proposed["id"]), json={"reason": "成员均在名录内"})


@builds("POST", "/api/v1/alliances/{alliance_id}/members", consumes=True)
async def _add_alliance_member(scene: Scene, template: str) -> Call:
    proposed = ok(await scene.world.post("op_a", "/api/v1/alliances", json=_alliance_body(scene)), 201)
    return Call(
        at(scene, template, alliance_id=proposed["id"]),
        json={"operator_id": scene.op_a, "role": "specialist", "category": "childcare", "reason": "联盟决议"},
    )


@builds("POST", "/api/v1/alliances/{alliance_id}/members/{member_id}/leave", consumes=True)
async def _record_alliance_member_leaving(scene: Scene, template: str) -> Call:
    proposed = ok(await scene.world.post("op_a", "/api/v1/alliances", json=_alliance_body(scene)), 201)
    page = ok(await scene.world.get("city", f"/api/v1/alliances/{proposed['id']}"))
    member = next(m for m in page["members"] if m["operator_id"] == scene.op_b)
    return Call(
        at(scene, template, alliance_id=proposed["id"], member_id=member["id"]),
        json={"left_on": (clock.today() + timedelta(days=30)).isoformat(), "reason": "企业申请退出"},
    )


# Months of contract X's fee, one per allowed call.
FEE_MONTHS = itertools.count(1)
with_body(
    "POST",
    "/api/v1/contracts/{contract_id}/fee-payments",
    lambda s: {"month": f"2026-{next(FEE_MONTHS):02d}-01", "amount": 10_000},
    consumes=True,
)


@builds("POST", "/api/v1/platforms")
async def _designate_platform(scene: Scene, template: str) -> Call:
    company = ok(
        await scene.world.post(
            "city",
            "/api/v1/orgs",
            json={
                "name": f"城投集团{next(FUND_REFERENCES)}",
                "kind": "owner",
                "parent_id": scene.world.org_id("district_a"),
            },
        )
    )
    return Call(at(scene, template), json={"org_id": company["id"], "level": "city", "reason": "市级国企平台试点"})


@builds("POST", "/api/v1/platforms/{platform_id}/communities", consumes=True)
async def _assign_to_platform(scene: Scene, template: str) -> Call:
    fresh = await community(scene.world, "street_x", f"旧改社区{next(FUND_REFERENCES)}")
    return Call(
        at(scene, template), json={"community_id": fresh["id"], "starts_on": "2026-12-01", "reason": "纳入统一运营"}
    )


with_body(
    "POST",
    "/api/v1/platforms/{platform_id}/master-contract",
    lambda s: {"starts_on": "2026-12-01", "ends_on": "2029-12-01", "annual_fee": 1_000_000, "reason": "总运营合同"},
)


@builds("POST", "/api/v1/communities/{community_id}/fund", consumes=True)
async def _open_fund(scene: Scene, template: str) -> Call:
    fresh = await community(scene.world, "street_x", f"设基金社区{next(FUND_REFERENCES)}")
    return Call(at(scene, template, community_id=fresh["id"]), json={"name": "社区发展基金"})


with_body("POST", "/api/v1/allocation-plans", lambda s: {"district_id": s.world.org_id("district_a")})
with_body(
    "POST",
    "/api/v1/contracts",
    lambda s: {
        "community_id": s.ids["community_id"],
        "operator_id": s.op_a,
        "categories": ["childcare"],
        "starts_on": "2030-01-01",
        "ends_on": "2031-01-01",
        "annual_fee": 100_000,
    },
)
with_body(
    "POST",
    "/api/v1/contracts/{contract_id}/monthly-reports",
    lambda s: {"month": "2026-11-01", "service_revenue": 300_000, "costs": {"staff": 100_000}},
)
with_body(
    "POST",
    "/api/v1/contracts/{contract_id}/complaints",
    lambda s: {"received_on": "2026-11-20", "text": "居民反映服务响应慢"},
)
with_body(
    "POST",
    "/api/v1/subsidies/hangzhou-old-estate",
    lambda s: {"total_cost": 100_000_000, "area_m2": "10000", "share": "0.5"},
)
with_body("POST", "/api/v1/subsidies/fuyang-award", lambda s: {"spend": 500_000_000, "target_level": "city"})
with_body(
    "POST",
    "/api/v1/spaces",
    lambda s: {
        "community_id": s.ids["community_id"],
        "owner_kind": "state_owned",
        "address": "江滨路 20 号",
        "area_m2": "80.00",
        "allowed_uses": ["childcare"],
    },
)
with_body("PATCH", "/api/v1/spaces/{space_id}", lambda s: {"condition": "已简装"})
with_body("POST", "/api/v1/rent-invoices/{invoice_id}/payments", lambda s: {"payment_method": "pm_card_visa"})
with_body("POST", "/api/v1/jobs/{name}/run", lambda s: {"period": "2026-12-09"})
with_body("POST", "/api/v1/flags/{flag_id}/resolve", lambda s: {"reason": "已约谈运营商，限期整改"})
with_body("POST", "/api/v1/reports/balance/{month}/resend", lambda s: {"recipients": ["jianwei@example.org"]})
with_body("POST", "/api/v1/objections/{objection_id}/decision", lambda s: {"upheld": False, "reason": "经核查不属实"})
with_body("POST", "/api/v1/registry/proposals/{proposal_id}/dismiss", lambda s: {"reason": "评价样本不足"})


@builds("POST", "/api/v1/registry/proposals/{proposal_id}/confirm")
async def _confirm(scene: Scene, template: str) -> Call:
    return Call(at(scene, template, proposal_id=scene.ids["proposal_d"]), json={"reason": "连续低分"})


@builds("POST", "/api/v1/operators/{operator_id}/status")
async def _status(scene: Scene, template: str) -> Call:
    return Call(
        at(scene, template, operator_id=scene.operators["op_c"]["id"]), json={"status": "warned", "reason": "投诉较多"}
    )


@builds("PATCH", "/api/v1/applications/{application_id}")
async def _edit_draft(scene: Scene, template: str) -> Call:
    draft = await draft_application(scene.world, "op_a", scene.op_a, "elderly")
    return Call(at(scene, template, application_id=draft), json={"statement": "补充三年业绩材料"})


@builds("POST", "/api/v1/applications/{application_id}/submit")
async def _submit(scene: Scene, template: str) -> Call:
    return Call(at(scene, template, application_id=await draft_application(scene.world, "op_a", scene.op_a, "culture")))


@builds("POST", "/api/v1/applications/{application_id}/start-review")
async def _start_review(scene: Scene, template: str) -> Call:
    submitted = await submitted_self_application(scene.world, "op_b", scene.op_b, ("culture",))
    return Call(at(scene, template, application_id=submitted))


@builds("POST", "/api/v1/applications/{application_id}/decision")
async def _decide(scene: Scene, template: str) -> Call:
    submitted = await submitted_self_application(scene.world, "op_b", scene.op_b, ("elderly",))
    return Call(at(scene, template, application_id=submitted), json={"decision": "approve", "reason": "材料齐全"})


@builds("GET", "/api/v1/batches/{batch_id}")
async def _draft_batch(scene: Scene, template: str) -> Call:
    return Call(at(scene, template, batch_id=scene.ids["draft_batch"]))


@builds("POST", "/api/v1/batches/{batch_id}/entries")
async def _entries(scene: Scene, template: str) -> Call:
    batch = ok(await scene.world.post("city", "/api/v1/batches", json={"title": f"2027年第{scene.next()}批"}))
    approved = await approved_application(scene.world, "op_c", scene.operators["op_c"]["id"], "elderly")
    return Call(at(scene, template, batch_id=batch["id"]), json={"application_ids": [approved]})


@builds("POST", "/api/v1/batches/{batch_id}/notice")
async def _notice(scene: Scene, template: str) -> Call:
    approved = await approved_application(scene.world, "op_d", scene.operators["op_d"]["id"], "elderly")
    return Call(at(scene, template, batch_id=await batch_with(scene.world, scene, approved)), json={})


@builds("POST", "/api/v1/batches/{batch_id}/publish")
async def _publish(scene: Scene, template: str) -> Call:
    return Call(at(scene, template, batch_id=scene.ids["publishable_batch"]))


@builds("POST", "/api/v1/batches/{batch_id}/objections")
async def _object(scene: Scene, template: str) -> Call:
    return Call(
        at(scene, template, batch_id=scene.ids["notice_batch"]),
        json={"application_id": scene.ids["objected_application"], "text": "该企业曾被投诉多次"},
    )


@builds("POST", "/api/v1/needs/{need_id}/close", consumes=True)
async def _close_need(scene: Scene, template: str) -> Call:
    fresh = await need(scene.world, "street_x", scene.ids["community_id"], "elderly")
    return Call(at(scene, template, need_id=fresh["id"]), json={"reason": "社区已自行解决"})


async def _fresh_plan_line(scene: Scene) -> tuple[int, int]:
    fresh = await need(scene.world, "street_x", scene.ids["community_id"], "childcare")
    plan = ok(
        await scene.world.post(
            "district", "/api/v1/allocation-plans", json={"district_id": scene.world.org_id("district_a")}
        )
    )
    line = next(line for line in plan["lines"] if line["need_id"] == fresh["id"])
    assert line["operator_id"] is not None, plan
    return plan["id"], line["id"]


@builds("POST", "/api/v1/allocation-plans/{plan_id}/lines/{line_id}/accept", consumes=True)
async def _accept_line(scene: Scene, template: str) -> Call:
    plan_id, line_id = await _fresh_plan_line(scene)
    return Call(at(scene, template, plan_id=plan_id, line_id=line_id), json={})


@builds("POST", "/api/v1/allocation-plans/{plan_id}/lines/{line_id}/reject", consumes=True)
async def _reject_line(scene: Scene, template: str) -> Call:
    plan_id, line_id = await _fresh_plan_line(scene)
    return Call(at(scene, template, plan_id=plan_id, line_id=line_id), json={"reason": "另行安排"})


@builds("PATCH", "/api/v1/contracts/{contract_id}")
async def _edit_contract(scene: Scene, template: str) -> Call:
    return Call(at(scene, template, contract_id=scene.ids["draft_contract"]), json={"kpis": "托位使用率不低于八成"})


async def _fresh_contract(scene: Scene, *, sign: bool) -> int:
    year = 2031 + scene.next()
    return (
        await contract(
            scene.world,
            "street_x",
            scene.ids["community_id"],
            scene.op_a,
            sign=sign,
            starts_on=f"{year}-01-01",
            ends_on=f"{year}-07-01",
        )
    )["id"]


@builds("POST", "/api/v1/contracts/{contract_id}/sign", consumes=True)
async def _sign(scene: Scene, template: str) -> Call:
    return Call(at(scene, template, contract_id=await _fresh_contract(scene, sign=False)))


@builds("POST", "/api/v1/contracts/{contract_id}/registry-decision", consumes=True)
async def _registry_decision(scene: Scene, template: str) -> Call:
    return Call(
        at(scene, template, contract_id=scene.registry_contracts.pop() if scene.registry_contracts else 0),
        json={"decision": "continue", "reason": "继续履行至期满"},
    )


@builds("POST", "/api/v1/contracts/{contract_id}/renew", consumes=True)
async def _renew_contract(scene: Scene, template: str) -> Call:
    # Ends while operator A's listing is in force, so the renewal's new term starts listed.
    contract_id = (
        await contract(
            scene.world,
            "street_x",
            scene.ids["community_id"],
            scene.op_a,
            starts_on="2026-12-01",
            ends_on=f"2027-0{1 + scene.next() % 9}-01",
        )
    )["id"]
    return Call(at(scene, template, contract_id=contract_id), json={"ends_on": "2099-01-01", "reason": "续签"})


@builds("POST", "/api/v1/contracts/{contract_id}/terminate", consumes=True)
async def _terminate_contract(scene: Scene, template: str) -> Call:
    return Call(at(scene, template, contract_id=await _fresh_contract(scene, sign=True)), json={"reason": "服务不达标"})


async def _idle_space(scene: Scene) -> int:
    return (
        await space(
            scene.world, "street_x", community_id=scene.ids["community_id"], address=f"江滨路 {100 + scene.next()} 号"
        )
    )["id"]


async def _open_listing(scene: Scene) -> int:
    return (await listing(scene.world, await _idle_space(scene)))["id"]


@builds("POST", "/api/v1/spaces/{space_id}/listings", consumes=True)
async def _list_space(scene: Scene, template: str) -> Call:
    return Call(
        at(scene, template, space_id=await _idle_space(scene)),
        json={
            "track": "competitive",
            "rent_per_m2_month": 4_000,
            "min_term_months": 12,
            "max_term_months": 36,
            "opens_on": "2026-12-01",
            "closes_on": "2027-02-01",
        },
    )


@builds("POST", "/api/v1/space-listings/{listing_id}/applications")
async def _apply(scene: Scene, template: str) -> Call:
    return Call(
        at(scene, template, listing_id=await _open_listing(scene)),
        json={"proposed_use": "childcare", "term_months": 24, "proposed_rent_per_m2_month": 4_500},
    )


async def _closed_listing_with_application(scene: Scene) -> tuple[int, int]:
    """A listing whose window closed today, with operator A's application filed the day before."""
    listing_id = (
        await listing(scene.world, await _idle_space(scene), opens_on="2026-11-01", closes_on=clock.today().isoformat())
    )["id"]
    scene.clock.advance(days=-1)
    try:
        applied = ok(
            await scene.world.post(
                "op_a",
                f"/api/v1/space-listings/{listing_id}/applications",
                json={"proposed_use": "childcare", "term_months": 24, "proposed_rent_per_m2_month": 4_500},
            ),
            201,
        )
    finally:
        scene.clock.advance(days=1)
    return listing_id, applied["id"]


@builds("POST", "/api/v1/space-listings/{listing_id}/applications/{application_id}/scores", consumes=True)
async def _score(scene: Scene, template: str) -> Call:
    listing_id, application_id = await _closed_listing_with_application(scene)
    return Call(
        at(scene, template, listing_id=listing_id, application_id=application_id),
        json={"scores": {"plan": 80}, "comment": "方案可行"},
    )


@builds("POST", "/api/v1/space-listings/{listing_id}/award", consumes=True)
async def _award(scene: Scene, template: str) -> Call:
    listing_id, application_id = await _closed_listing_with_application(scene)
    return Call(
        at(scene, template, listing_id=listing_id), json={"application_id": application_id, "reason": "得分第一"}
    )


@builds("GET", "/api/v1/public/space-listings/{listing_id}/result")
async def _public_result(scene: Scene, template: str) -> Call:
    listing_id, application_id = await _closed_listing_with_application(scene)
    ok(
        await scene.world.post(
            "street_x",
            f"/api/v1/space-listings/{listing_id}/award",
            json={"application_id": application_id, "reason": "得分第一"},
        ),
        201,
    )
    return Call(at(scene, template, listing_id=listing_id))


@builds("POST", "/api/v1/space-listings/{listing_id}/cancel", consumes=True)
async def _cancel(scene: Scene, template: str) -> Call:
    return Call(at(scene, template, listing_id=await _open_listing(scene)), json={"reason": "规划调整"})


@builds("POST", "/api/v1/leases/{lease_id}/deposit-settlement", consumes=True)
async def _settle_deposit(scene: Scene, template: str) -> Call:
    """A lease of operator A whose deposit was paid, terminated: its deposit is due back."""
    room = await _idle_space(scene)
    signed = await lease(scene.world, room, scene.op_a, starts_on="2026-12-01", ends_on="2027-12-01", deposit=200_000)
    await leasing.generate_invoices()
    invoices = ok(await scene.world.get("street_x", "/api/v1/rent-invoices", params={"lease_id": signed["id"]}))
    deposit = next(i for i in invoices["items"] if i["kind"] == "deposit")
    ok(
        await scene.world.post(
            "op_a", f"/api/v1/rent-invoices/{deposit['id']}/payments", json={"payment_method": "pm_card_visa"}
        ),
        201,
    )
    ok(await scene.world.post("street_x", f"/api/v1/leases/{signed['id']}/terminate", json={"reason": "提前解除"}))
    return Call(at(scene, template, lease_id=signed["id"]), json={})


@builds("POST", "/api/v1/leases", consumes=True)
async def _create_lease(scene: Scene, template: str) -> Call:
    return Call(
        template,
        json={
            "space_id": await _idle_space(scene),
            "lessee_id": scene.op_a,
            "use": "childcare",
            "starts_on": "2027-01-01",
            "ends_on": "2028-01-01",
            "monthly_rent": 300_000,
        },
    )


async def _fresh_lease(scene: Scene) -> int:
    return (await lease(scene.world, await _idle_space(scene), scene.op_a))["id"]


@builds("POST", "/api/v1/leases/{lease_id}/renew", consumes=True)
async def _renew_lease(scene: Scene, template: str) -> Call:
    return Call(
        at(scene, template, lease_id=await _fresh_lease(scene)), json={"ends_on": "2029-09-01", "reason": "续租"}
    )


@builds("POST", "/api/v1/leases/{lease_id}/terminate", consumes=True)
async def _terminate_lease(scene: Scene, template: str) -> Call:
    return Call(at(scene, template, lease_id=await _fresh_lease(scene)), json={"reason": "承租方申请退租"})


@builds("POST", "/api/v1/webhooks/payments", consumes=True)
async def _webhook(scene: Scene, template: str) -> Call:
    payload = json.dumps(
        {
            "id": f"evt_matrix_{scene.next()}",
            "type": "customer.created",
            "data": {"object": {"id": "cus_1", "object": "customer"}},
        }
    ).encode()
    signature = webhooks.sign(payload, get_settings().stripe_webhook_secret, int(clock.now().timestamp()))
    return Call(template, content=payload, headers={"Stripe-Signature": signature, "Content-Type": "application/json"})


@builds("POST", "/api/v1/public/residents/codes", consumes=True)
async def _send_code(scene: Scene, template: str) -> Call:
    return Call(template, json={"phone": str(next(_phones))})


@builds("POST", "/api/v1/public/residents/sign-up", consumes=True)
async def _sign_up(scene: Scene, template: str) -> Call:
    phone = str(next(_phones))
    body = {
        "phone": phone,
        "code": await fresh_code(phone),
        "name": "居民乙",
        "community_id": scene.ids["community_id"],
    }
    return Call(template, json={**body, "building": "2", "unit": "1", "room": str(scene.next())})


@builds("POST", "/api/v1/public/residents/login", consumes=True)
async def _resident_login(scene: Scene, template: str) -> Call:
    return Call(template, json={"phone": RESIDENT_PHONE, "code": await fresh_code(RESIDENT_PHONE)})


with_body("POST", "/api/v1/households/{household_id}/confirm", lambda s: {"note": "与名册一致"})
with_body("POST", "/api/v1/households/register/{community_id}", lambda s: {"csv": "楼栋,单元,室\n1,1,101\n1,1,102\n"})
with_body(
    "POST",
    "/api/v1/polls",
    lambda s: {
        "need_id": s.ids["need_id"],
        "title": "托育服务套餐选择",
        "opens_at": clock.now().isoformat(),
        "closes_at": (clock.now() + timedelta(days=10)).isoformat(),
        "quorum": "0.3",
        "packages": [{"name": "普惠托育"}, {"name": "全日托育"}],
    },
)


@builds("POST", "/api/v1/polls/{poll_id}/ballots")
async def _ballot(scene: Scene, template: str) -> Call:
    return Call(at(scene, template, poll_id=scene.ids["open_poll"]), json={"option_id": scene.ids["open_option"]})


with_body(
    "POST", "/api/v1/polls/{poll_id}/decision", lambda s: {"follows": False, "reason": "得票第一的运营商产能已满"}
)


@builds("GET", "/api/v1/points/me/statement")
async def _statement(scene: Scene, template: str) -> Call:
    return Call(f"{template}?month={clock.today():%Y-%m}")


with_body(
    "POST",
    "/api/v1/points/activities",
    lambda s: {
        "community_id": s.ids["community_id"],
        "title": "垃圾分类督导",
        "kind": "ordinary",
        "starts_at": clock.now().isoformat(),
        "ends_at": (clock.now() + timedelta(days=2)).isoformat(),
        "points_per_hour": 8,
    },
)
with_body("POST", "/api/v1/points/signups/{signup_id}/confirm", lambda s: {"hours": "2"})
with_body(
    "POST",
    "/api/v1/points/services",
    lambda s: {
        "community_id": s.ids["community_id"],
        "title": "老年助餐一次",
        "price_points": 8,
        "capacity": 10,
        "opens_at": clock.now().isoformat(),
        "closes_at": (clock.now() + timedelta(days=10)).isoformat(),
    },
)


async def _redemption(scene: Scene) -> int:
    return ok(
        await scene.world.post("resident", f"/api/v1/points/services/{scene.ids['service_id']}/redemptions"), 201
    )["id"]


@builds("POST", "/api/v1/points/redemptions/{redemption_id}/deliver", consumes=True)
async def _deliver(scene: Scene, template: str) -> Call:
    return Call(at(scene, template, redemption_id=await _redemption(scene)))


@builds("POST", "/api/v1/points/redemptions/{redemption_id}/cancel", consumes=True)
async def _cancel(scene: Scene, template: str) -> Call:
    return Call(at(scene, template, redemption_id=await _redemption(scene)))


with_body("POST", "/api/v1/time-bank/withdrawals", lambda s: {"hours": "0.25", "note": "上门助浴"})
with_body("POST", "/api/v1/time-bank/withdrawals/{withdrawal_id}/confirm", lambda s: {"note": "已上门服务"})
with_body(
    "POST",
    "/api/v1/time-bank/transfers",
    lambda s: {"recipient_phone": s.ids["family_phone"], "hours": "0.5", "request_id": f"matrix-{s.next():04d}"},
)


async def _survey_x(scene: Scene) -> int:
    """Contract X's survey of the quarter, opened by the daily job (once, however often it is asked)."""
    if "survey_id" not in scene.ids:
        await residents_jobs.open_surveys(clock.today())
        surveys = (ok(await scene.world.get("street_x", "/api/v1/surveys", params={"limit": 200})))["items"]
        scene.ids["survey_id"] = next(s["id"] for s in surveys if s["contract_id"] == scene.ids["contract_id"])
    return int(scene.ids["survey_id"])


async def _closed_survey_in_fresh_community(scene: Scene) -> tuple[int, int]:
    """(community, survey): a new community of street X whose last quarter's survey closed at 100 %."""
    from tests.residents.survey_helpers import closed_survey

    fresh = await community(scene.world, "street_x", f"验收社区{scene.next()}")
    signed = await contract(scene.world, "street_x", fresh["id"], scene.op_a)
    return fresh["id"], await closed_survey(fresh["id"], signed["id"], scene.op_a, satisfied=5, total=5)


@builds("GET", "/api/v1/surveys/{survey_id}")
async def _get_survey(scene: Scene, template: str) -> Call:
    return Call(at(scene, template, survey_id=await _survey_x(scene)))


@builds("POST", "/api/v1/surveys/{survey_id}/answers")
async def _answer_survey(scene: Scene, template: str) -> Call:
    body = {"overall": 5, "attitude": 4, "responsiveness": 4, "quality": 5, "price": 3, "comment": "满意"}
    return Call(at(scene, template, survey_id=await _survey_x(scene)), json=body)


@builds("POST", "/api/v1/surveys/{survey_id}/offline-uploads")
async def _upload_survey(scene: Scene, template: str) -> Call:
    sheet = "总体满意度,服务态度,响应速度,服务质量,价格合理\n5,5,5,5,5\n"
    return Call(at(scene, template, survey_id=await _survey_x(scene)), json={"file_name": "线下.csv", "csv": sheet})


@builds("GET", "/api/v1/surveys/{survey_id}/offline-uploads")
async def _survey_uploads(scene: Scene, template: str) -> Call:
    return Call(at(scene, template, survey_id=await _survey_x(scene)))


@builds("POST", "/api/v1/communities/{community_id}/acceptance", consumes=True)
async def _accept_community(scene: Scene, template: str) -> Call:
    community_id, _ = await _closed_survey_in_fresh_community(scene)
    return Call(at(scene, template, community_id=community_id), json={"reason": "居民满意度达标"})


@builds("GET", "/api/v1/public/surveys/{survey_id}/result")
async def _survey_result(scene: Scene, template: str) -> Call:
    if "closed_survey" not in scene.ids:
        scene.ids["closed_survey"] = (await _closed_survey_in_fresh_community(scene))[1]
    return Call(at(scene, template, survey_id=scene.ids["closed_survey"]))


# Running the matrix -------------------------------------------------------------------------------


async def fingerprint() -> dict[str, str]:
    """A digest of every table's rows: equal before and after means nothing was written."""
    tables = [
        r["tablename"]
        for r in await engine_finder().run_ddl(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'migration'"
        )
    ]
    query = " UNION ALL ".join(
        f"SELECT '{t}' AS t, md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) AS h FROM \"{t}\" x"
        for t in tables
    )
    return {r["t"]: r["h"] for r in await engine_finder().run_ddl(query)}


async def send(scene: Scene, role: str, method: str, call: Call):
    user = USERS[role]
    headers = {**(scene.world.headers(user) if user else {}), **call.headers}
    return await scene.world.client.request(method, call.path, json=call.json, content=call.content, headers=headers)


def outcome(status: int) -> str:
    return OK if 200 <= status < 300 else str(status)


async def run_row(scene: Scene, route: tuple[str, str]) -> list[str]:
    """Every role on one route, refused ones first; returns what differs from the matrix."""
    method, template = route
    expected = expectations(route)
    builder = BUILDERS.get(route, lambda s, t: default_call(s, t))
    shared = await builder(scene, template)
    problems, shared_used = [], False
    for role in sorted(ROLES, key=lambda r: expected[r] == OK):
        want = expected[role]
        call = shared
        if want == OK:
            if shared_used and route in CONSUMING:
                call = await builder(scene, template)
            shared_used = True
        before = await fingerprint() if method != "GET" and want != OK else None
        response = await send(scene, role, method, call)
        got = outcome(response.status_code)
        if got != want:
            problems.append(
                f"{method} {template} as {role}: expected {want}, got {response.status_code} {response.text[:160]}"
            )
        if before is not None:
            after = await fingerprint()
            changed = sorted(t for t in after if after[t] != before.get(t))
            if changed:
                problems.append(f"{method} {template} as {role} was refused but changed {changed}")
    return problems


async def test_every_route_has_a_row_and_nothing_more(app):
    routes = app_routes(app)
    assert sorted(routes - MATRIX.keys()) == [], "routes without a row in the authorisation matrix"
    assert sorted(MATRIX.keys() - routes) == [], "rows for routes the app no longer has"
    assert not BUILDERS.keys() - MATRIX.keys()


async def test_every_role_gets_the_answer_in_the_matrix_on_every_route(
    app, world, frozen_clock, localstripe, smtp_server
):
    scene = await build_scene(world, frozen_clock)
    problems = []
    for route in MATRIX:
        problems += await run_row(scene, route)
    print(f"authorisation matrix: {len(MATRIX)} routes × {len(ROLES)} roles = {len(MATRIX) * len(ROLES)} cells checked")
    assert not problems, "\n".join(problems)


# Lists and guessed ids ---------------------------------------------------------------------------


async def listed_ids(world, user: str, url: str, **params) -> set[int]:
    body = ok(await world.get(user, url, params={"limit": 200, **params}))
    return {row["id"] for row in (body["items"] if isinstance(body, dict) else body)}


async def test_lists_never_show_rows_of_another_scope_whatever_the_filter(world, frozen_clock):
    scene = await build_scene(world, frozen_clock)
    ids = scene.ids
    x_community, y_community = ids["community_id"], ids["community_y"]

    # Street Y sees its own rows and none of street X's, even when it filters on street X's objects.
    street_y_lists = {
        "/api/v1/leases": ({ids["lease_id"]}, {ids["lease_y"]}),
        "/api/v1/rent-invoices": ({ids["invoice_id"]}, {ids["invoice_y"]}),
        "/api/v1/needs": ({ids["need_id"]}, {ids["need_y"]}),
        "/api/v1/spaces": ({ids["space_id"], ids["owner_space"]}, {ids["space_y"]}),
        "/api/v1/space-listings": ({ids["listing_id"]}, {ids["listing_y"]}),
        "/api/v1/contracts": ({ids["contract_id"], ids["draft_contract"]}, {ids["contract_y"]}),
        "/api/v1/communities": ({x_community}, {y_community}),
    }
    for url, (foreign, own) in street_y_lists.items():
        seen = await listed_ids(world, "street_y", url)
        assert own <= seen and not seen & foreign, url
    for url, params in (
        ("/api/v1/leases", {"space_id": ids["space_id"]}),
        ("/api/v1/rent-invoices", {"lease_id": ids["lease_id"]}),
        ("/api/v1/needs", {"community_id": x_community}),
        ("/api/v1/spaces", {"community_id": x_community}),
        ("/api/v1/contracts", {"community_id": x_community}),
        ("/api/v1/communities", {"street_id": world.org_id("street_x")}),
    ):
        assert await listed_ids(world, "street_y", url, **params) == set(), (url, params)
    assert (ok(await world.get("street_y", "/api/v1/flags")))["total"] == 0

    # Operator B: its own leases, invoices and contracts, never operator A's; A's applications stay A's.
    op_a, op_b = scene.op_a, scene.op_b
    assert await listed_ids(world, "op_b", "/api/v1/leases") == {ids["lease_y"]}
    assert await listed_ids(world, "op_b", "/api/v1/rent-invoices") >= {ids["invoice_y"]}
    assert ids["invoice_id"] not in await listed_ids(world, "op_b", "/api/v1/rent-invoices")
    assert await listed_ids(world, "op_b", "/api/v1/rent-invoices", lease_id=ids["lease_id"]) == set()
    assert await listed_ids(world, "op_b", "/api/v1/contracts") == {ids["contract_y"]}
    assert await listed_ids(world, "op_b", "/api/v1/contracts", operator_id=op_a) == set()
    assert await listed_ids(world, "op_b", "/api/v1/operators") == {op_b}
    assert await listed_ids(world, "op_b", "/api/v1/communities") == {y_community}
    b_applications = ok(await world.get("op_b", "/api/v1/applications", params={"limit": 200}))
    assert b_applications["items"] and {a["operator_id"] for a in b_applications["items"]} == {op_b}
    assert await listed_ids(world, "op_b", "/api/v1/applications", operator_id=op_a) == set()
    lease_applications = ok(await world.get("op_b", f"/api/v1/space-listings/{ids['listing_id']}/applications"))
    assert lease_applications == []  # operator A applied; operator B sees only its own, and has none
    assert await listed_ids(world, "op_b", "/api/v1/spaces") == set()

    # Both operators serve community X: each reads the ledger entries it reported, not the rival's (nor the
    # street's); the street reads them all.
    rival = await contract(world, "street_x", x_community, op_b)
    report = {"month": "2026-11-01", "service_revenue": 800_000, "costs": {"staff": 500_000}}
    mine = ok(await world.post("op_a", f"/api/v1/contracts/{ids['contract_id']}/monthly-reports", json=report))
    theirs = ok(await world.post("op_b", f"/api/v1/contracts/{rival['id']}/monthly-reports", json=report))
    ledger = f"/api/v1/communities/{x_community}/ledger"
    assert await listed_ids(world, "op_a", ledger) == {e["id"] for e in mine}
    assert await listed_ids(world, "op_b", ledger) == {e["id"] for e in theirs}
    assert await listed_ids(world, "street_x", ledger) > {e["id"] for e in mine + theirs}
    assert await listed_ids(world, "op_a", "/api/v1/leases") == {ids["lease_id"]}

    # A batch being composed is the city committee's; the published one is everyone's.
    for user in ("op_b", "street_y", "district", "owner"):
        assert ids["draft_batch"] not in await listed_ids(world, user, "/api/v1/batches"), user
        assert ids["batch_id"] in await listed_ids(world, user, "/api/v1/batches"), user
    assert ids["draft_batch"] in await listed_ids(world, "auditor", "/api/v1/batches")
    objection = await world.post(
        "op_b",
        f"/api/v1/batches/{ids['draft_batch']}/objections",
        json={"application_id": ids["application_id"], "text": "试探编制中的批次"},
    )
    assert objection.status_code == 404 and objection.json()["code"] == "batch.not_found"

    # District B sees nothing of district A; district A sees both its streets.
    for url in (
        "/api/v1/communities",
        "/api/v1/needs",
        "/api/v1/spaces",
        "/api/v1/leases",
        "/api/v1/contracts",
        "/api/v1/rent-invoices",
        "/api/v1/space-listings",
        "/api/v1/flags",
    ):
        a_side = await listed_ids(world, "district", url)
        assert a_side and not a_side & await listed_ids(world, "district_b", url), url
    assert await listed_ids(world, "district_b", "/api/v1/communities") == {ids["community_z"]}
    assert await listed_ids(world, "district_b", "/api/v1/communities", district_id=world.org_id("district_a")) == set()
    overview = ok(
        await world.get("district_b", "/api/v1/balance/overview", params={"district_id": world.org_id("district_a")})
    )
    assert overview["communities"] == 0 and overview["items"] == []
    figures = ok(await world.get("district_b", "/api/v1/leasing-figures", params={"level": "community"}))
    assert figures["items"] == [] and figures["total"]["spaces"] == 0

    # The owner sees its own space only, not the street's spaces beside it in the same community.
    assert await listed_ids(world, "owner", "/api/v1/spaces") == {ids["owner_space"]}
    for url in ("/api/v1/leases", "/api/v1/rent-invoices", "/api/v1/space-listings", "/api/v1/contracts"):
        assert await listed_ids(world, "owner", url) == set(), url


async def test_writes_on_guessed_ids_of_another_scope_are_not_found_and_change_nothing(
    world, frozen_clock, localstripe
):
    scene = await build_scene(world, frozen_clock)
    ids = scene.ids
    draft = await draft_application(world, "op_a", scene.op_a, "elderly")
    before = await fingerprint()
    # Each attempt: (user, method, url, body), then (reader, url) whose answer must not change.
    attempts = [
        (
            "op_b",
            "PATCH",
            f"/api/v1/applications/{draft}",
            {"statement": "改写他人申请"},
            ("op_a", f"/api/v1/applications/{draft}"),
        ),
        ("op_b", "POST", f"/api/v1/applications/{draft}/submit", None, ("op_a", f"/api/v1/applications/{draft}")),
        (
            "op_b",
            "PATCH",
            f"/api/v1/operators/{scene.op_a}",
            {"contact_phone": "0571-00000000"},
            ("op_a", f"/api/v1/operators/{scene.op_a}"),
        ),
        (
            "op_b",
            "POST",
            f"/api/v1/rent-invoices/{ids['invoice_id']}/payments",
            {"payment_method": "pm_card_visa"},
            ("op_a", f"/api/v1/rent-invoices/{ids['invoice_id']}/payments"),
        ),
        (
            "op_b",
            "POST",
            f"/api/v1/contracts/{ids['contract_id']}/monthly-reports",
            {"month": "2026-11-01", "service_revenue": 1},
            ("street_x", f"/api/v1/communities/{ids['community_id']}/ledger"),
        ),
        (
            "street_y",
            "POST",
            f"/api/v1/space-listings/{ids['listing_id']}/cancel",
            {"reason": "撤销"},
            ("street_x", f"/api/v1/space-listings/{ids['listing_id']}"),
        ),
        (
            "street_y",
            "POST",
            f"/api/v1/space-listings/{ids['listing_id']}/award",
            {"application_id": ids["lease_application"], "reason": "选定"},
            ("street_x", f"/api/v1/space-listings/{ids['listing_id']}/applications"),
        ),
        (
            "street_y",
            "POST",
            f"/api/v1/needs/{ids['need_id']}/close",
            {"reason": "关闭"},
            ("street_x", f"/api/v1/needs/{ids['need_id']}"),
        ),
        (
            "street_y",
            "POST",
            f"/api/v1/contracts/{ids['contract_id']}/terminate",
            {"reason": "终止"},
            ("street_x", f"/api/v1/contracts/{ids['contract_id']}"),
        ),
        (
            "street_y",
            "PATCH",
            f"/api/v1/communities/{ids['community_id']}",
            {"households": 1},
            ("street_x", f"/api/v1/communities/{ids['community_id']}"),
        ),
        (
            "district_b",
            "POST",
            f"/api/v1/leases/{ids['lease_id']}/terminate",
            {"reason": "终止"},
            ("street_x", f"/api/v1/leases/{ids['lease_id']}"),
        ),
        (
            "district_b",
            "PATCH",
            f"/api/v1/spaces/{ids['space_id']}",
            {"condition": "改写"},
            ("street_x", f"/api/v1/spaces/{ids['space_id']}"),
        ),
        (
            "district_b",
            "POST",
            f"/api/v1/flags/{ids['flag_id']}/resolve",
            {"reason": "办结"},
            ("street_x", "/api/v1/flags"),
        ),
        (
            "owner",
            "PATCH",
            f"/api/v1/spaces/{ids['space_id']}",
            {"condition": "改写"},
            ("street_x", f"/api/v1/spaces/{ids['space_id']}"),
        ),
        (
            "owner",
            "POST",
            f"/api/v1/spaces/{ids['space_id']}/listings",
            {
                "track": "competitive",
                "rent_per_m2_month": 1,
                "min_term_months": 1,
                "max_term_months": 2,
                "opens_on": "2026-12-01",
                "closes_on": "2027-01-01",
            },
            ("street_x", f"/api/v1/spaces/{ids['space_id']}"),
        ),
    ]
    for user, method, url, body, (reader, read_url) in attempts:
        seen = (ok(await world.get(reader, read_url))) if reader else None
        response = await world.client.request(method, url, json=body, headers=world.headers(user))
        assert response.status_code == 404, (user, method, url, response.text)
        assert response.json()["message"]  # a stable error body, not an empty page
        assert ok(await world.get(reader, read_url)) == seen, (user, method, url)
    assert await fingerprint() == before

    # Another owner in the same district registers a space in community X: the first owner cannot touch it.
    water = ok(
        await world.post(
            "city", "/api/v1/orgs", json={"name": "富阳水务", "kind": "owner", "parent_id": world.org_id("district_a")}
        )
    )
    ok(
        await world.post(
            "city",
            "/api/v1/users",
            json={
                "username": "water_owner",
                "password": "long-enough-password",
                "email": "water@example.org",
                "grants": [{"role": "owner", "org_id": water["id"]}],
            },
        )
    )
    world.tokens["water_owner"] = (
        ok(
            await world.client.post(
                "/api/v1/auth/login", json={"username": "water_owner", "password": "long-enough-password"}
            )
        )
    )["access_token"]
    theirs = await space(world, "water_owner", community_id=ids["community_id"], address="江滨路 30 号")
    assert theirs["owner_name"] == "富阳水务"
    assert theirs["id"] not in await listed_ids(world, "owner", "/api/v1/spaces")
    assert ids["owner_space"] not in await listed_ids(world, "water_owner", "/api/v1/spaces")
    before = await fingerprint()
    for method, url, body in (
        ("GET", f"/api/v1/spaces/{theirs['id']}", None),
        ("PATCH", f"/api/v1/spaces/{theirs['id']}", {"condition": "改写"}),
        (
            "POST",
            f"/api/v1/spaces/{theirs['id']}/listings",
            {
                "track": "competitive",
                "rent_per_m2_month": 1,
                "min_term_months": 1,
                "max_term_months": 2,
                "opens_on": "2026-12-01",
                "closes_on": "2027-01-01",
            },
        ),
    ):
        response = await world.client.request(method, url, json=body, headers=world.headers("owner"))
        assert response.status_code == 404 and response.json()["code"] == "space.not_found", (method, url)
    assert await fingerprint() == before
    unchanged = ok(await world.get("water_owner", f"/api/v1/spaces/{theirs['id']}"))
    assert unchanged["condition"] == theirs["condition"]

    # The owner does manage its own space, so the refusals above are about scope, not about the role.
    before = await fingerprint()
    edited = await world.patch("owner", f"/api/v1/spaces/{ids['owner_space']}", json={"condition": "已简装"})
    assert (ok(edited))["condition"] == "已简装"
    assert await fingerprint() != before


async def test_a_street_official_who_also_works_for_an_operator_sees_both_scopes(world, frozen_clock):
    scene = await build_scene(world, frozen_clock)
    ids = scene.ids
    both = "street_x_and_operator_a"
    # As street X: every need and listing of street X, whatever its state; as an operator: every open one.
    ok(await world.post("street_x", f"/api/v1/needs/{ids['need_id']}/close", json={"reason": "已解决"}))
    needs = await listed_ids(world, both, "/api/v1/needs")
    assert {ids["need_id"], ids["need_y"], ids["need_z"]} <= needs
    as_street, as_operator = [await listed_ids(world, user, "/api/v1/needs") for user in ("street_x", "op_a")]
    assert needs == as_street | as_operator
    listings = await listed_ids(world, both, "/api/v1/space-listings")
    assert {ids["listing_id"], ids["listing_y"]} <= listings
    # ... and never more: street Y's closed needs stay street Y's.
    ok(await world.post("street_y", f"/api/v1/needs/{ids['need_y']}/close", json={"reason": "已解决"}))
    assert ids["need_y"] not in await listed_ids(world, both, "/api/v1/needs")
    assert (await world.get(both, f"/api/v1/needs/{ids['need_y']}")).status_code == 404


# Guards: a role a route does not serve is refused before its input is read ----------------------------

ROLE_OF = {
    "opA": Role.operator,
    "opB": Role.operator,
    "stX": Role.street,
    "stY": Role.street,
    "dA": Role.district,
    "dB": Role.district,
    "city": Role.city,
    "own": Role.owner,
    "aud": Role.auditor,
    "res": Role.resident,
}
# One user of each role in the plain world (no scene needed: the guard looks at nobody's data).
USER_OF_ROLE = {
    Role.operator: "operator_a",
    Role.street: "street_x",
    Role.district: "district",
    Role.city: "city",
    Role.owner: "owner",
    Role.auditor: "auditor",
    Role.resident: "resident",
}
# Input a route cannot make sense of: none, unreadable, the wrong JSON type, empty, unknown and ill-typed fields,
# each with a query string of values out of range or of the wrong type.
GARBAGE_QUERY = "?limit=-5&offset=x&start=9999-99-99&end=0001-01-01&status=%00&month=13"
GARBAGE_BODIES: list[dict[str, Any]] = [
    {},
    {"content": b"", "headers": {"Content-Type": "application/json"}},
    {"content": b"\x00{not json", "headers": {"Content-Type": "application/json"}},
    {"json": []},
    {"json": {}},
    {"json": {"unknown_field": 1}},
    {
        "json": {
            "street_id": "x",
            "community_id": -1,
            "name": 12345,
            "month": "9999-13",
            "amount": "lots",
            "application_ids": "all",
            "reason": None,
            "period": "0001-01-01",
        }
    },
]


def guarded_routes(app) -> dict[tuple[str, str], frozenset[Role] | None]:
    """(method, path) → the roles its guards let through; None for a route with no role guard at all."""
    found = {}
    for route in app.routes:
        for method, (handler, _) in getattr(route, "route_handler_map", {}).items():
            if method in ("HEAD", "OPTIONS") or DOCUMENTATION.match(route.path):
                continue
            guards = [g for g in handler.resolve_guards() if isinstance(g, RoleGuard)]
            roles = frozenset.intersection(*(g.roles for g in guards)) if guards else None
            found[(method, re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path))] = roles
    return found


def is_public(path: str) -> bool:
    return any(re.match(pattern, path) for pattern in PUBLIC_PATHS)


async def test_every_private_route_names_the_roles_it_serves_and_the_matrix_agrees(app):
    document = app.openapi_schema.to_schema()
    for (method, path), roles in guarded_routes(app).items():
        if is_public(path):
            assert roles is None, f"{method} {path} is public but has a role guard"
            continue
        assert roles, f"{method} {path} has no role guard: give it guards=[requires(...)] (or ANY_ROLE)"
        expected = expectations((method, path))
        for column, role in ROLE_OF.items():
            if role not in roles:
                assert expected[column] == "403", (
                    f"{method} {path}: the guard refuses {column}, the matrix says {expected[column]}"
                )
        if roles != frozenset(Role):
            operation = document["paths"][path][method.lower()]
            assert "403" in operation["responses"], f"{method} {path} can answer 403 but does not declare it"


async def test_a_role_a_route_does_not_serve_gets_403_whatever_it_sends(app, world):
    before = await fingerprint()
    problems, sent = [], 0
    for (method, path), roles in guarded_routes(app).items():
        if roles is None:
            continue
        url = re.sub(r"\{\w+\}", "1", path) + GARBAGE_QUERY
        for role in sorted(set(USER_OF_ROLE) - roles):
            for shape in GARBAGE_BODIES:
                kwargs = {**shape, "headers": {**shape.get("headers", {}), **world.headers(USER_OF_ROLE[role])}}
                response = await world.client.request(method, url, **kwargs)
                sent += 1
                body = response.json()
                if (
                    response.status_code != 403
                    or body["code"] != "auth.forbidden"
                    or body["detail"]["required_roles"] != [r.value for r in Role if r in roles]
                ):
                    problems.append(
                        f"{method} {path} as {role.value} with {shape}: {response.status_code} {response.text[:120]}"
                    )
    assert sent > 500 and not problems, "\n".join(problems[:40])
    assert await fingerprint() == before


async def test_the_auditor_cannot_open_a_community_file_in_any_street(world):
    before = await fingerprint()
    for street_id in (world.org_id("street_x"), world.org_id("district_a"), 999_999):
        response = await world.post(
            "auditor",
            "/api/v1/communities",
            json={**community_payload(world, "street_x", "审计试建社区"), "street_id": street_id},
        )
        assert response.status_code == 403, response.text
        assert response.json()["code"] == "auth.forbidden" and "市建委" in response.json()["message"]
    assert await fingerprint() == before


async def test_a_user_with_two_roles_passes_the_guards_of_both(world):
    # Street X's official who works for operator A: the guards let through the union of the grants' roles,
    # so the body is judged (422), where a user with only one of those roles is refused (403).
    for user, url, refused in (
        ("operator_a", "/api/v1/communities", True),
        ("street_x", "/api/v1/space-listings/1/applications", True),
        ("street_x_and_operator_a", "/api/v1/communities", False),
        ("street_x_and_operator_a", "/api/v1/space-listings/1/applications", False),
    ):
        response = await world.post(user, url, json={"name": 12345})
        assert (response.status_code == 403) == refused, (user, url, response.text)
        assert response.status_code in (400, 403, 422), (user, url, response.text)
