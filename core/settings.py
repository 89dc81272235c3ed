"""Every setting the service reads, from environment variables; nothing else reads os.environ."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, str(default)))


def _env_bool(name: str, default: bool) -> bool:
    return os.environ.get(name, "1" if default else "0").strip().lower() in {"1", "true", "yes", "on"}


def _env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _env_weights(name: str) -> dict[str, float]:
    weights = {}
    for item in _env_list(name):
        key, _, value = item.partition("=")
        weights[key.strip()] = float(value)
    return weights


DEVELOPMENT_SECRETS = {
    "SECRET_KEY": "dev-only-secret-change-me-in-production",
    "STRIPE_API_KEY": "sk_test_local",
    "STRIPE_WEBHOOK_SECRET": "whsec_local",
}


@dataclass(frozen=True)
class Settings:
    # APP_ENV=development (set by `fcom dev`, i.e. `make run`) allows the development secrets and DEBUG;
    # anything else is production and refuses to start with them.
    environment: str = field(default_factory=lambda: _env("APP_ENV", "production"))
    # Database: with no DATABASE_URL an embedded PostgreSQL is started on EMBEDDED_PG_DIR. The application
    # connects with DATABASE_URL; migrations run with MIGRATION_DATABASE_URL (the role owning the tables),
    # which also grants DATABASE_URL's role what it needs: on the audit log only SELECT and INSERT.
    database_url: str | None = field(default_factory=lambda: os.environ.get("DATABASE_URL") or None)
    migration_database_url: str | None = field(default_factory=lambda: os.environ.get("MIGRATION_DATABASE_URL") or None)
    embedded_pg_dir: Path = field(default_factory=lambda: Path(_env("EMBEDDED_PG_DIR", str(PROJECT_ROOT / ".pgdata"))))
    db_pool_min: int = field(default_factory=lambda: _env_int("DB_POOL_MIN", 2))
    db_pool_max: int = field(default_factory=lambda: _env_int("DB_POOL_MAX", 20))

    # HTTP server.
    host: str = field(default_factory=lambda: _env("HOST", "127.0.0.1"))
    port: int = field(default_factory=lambda: _env_int("PORT", 8000))
    web_workers: int = field(default_factory=lambda: _env_int("WEB_WORKERS", 1))
    debug: bool = field(default_factory=lambda: _env_bool("DEBUG", False))
    # Behind HTTPS, admin session cookies are marked Secure and the admin enforces production checks.
    admin_https_only: bool = field(default_factory=lambda: _env_bool("ADMIN_HTTPS_ONLY", False))
    # Behind HTTPS, the pages' session and CSRF cookies are marked Secure.
    web_https_only: bool = field(default_factory=lambda: _env_bool("WEB_HTTPS_ONLY", False))
    # Abuse limits: the largest request body accepted, and requests per minute per client address on the
    # public directory and on login (0: no limit). Each web worker counts on its own.
    request_max_body_bytes: int = field(default_factory=lambda: _env_int("REQUEST_MAX_BODY_BYTES", 1_048_576))
    rate_limit_public_per_minute: int = field(default_factory=lambda: _env_int("RATE_LIMIT_PUBLIC_PER_MINUTE", 600))
    rate_limit_login_per_minute: int = field(default_factory=lambda: _env_int("RATE_LIMIT_LOGIN_PER_MINUTE", 30))
    # How long a POST repeating the Idempotency-Key of a request still running waits for its answer.
    idempotency_wait_seconds: float = field(default_factory=lambda: float(_env("IDEMPOTENCY_WAIT_SECONDS", "5")))

    # Authentication.
    secret_key: str = field(default_factory=lambda: _env("SECRET_KEY", DEVELOPMENT_SECRETS["SECRET_KEY"]))
    token_minutes: int = field(default_factory=lambda: _env_int("TOKEN_MINUTES", 8 * 60))
    password_hash_iterations: int = field(default_factory=lambda: _env_int("PASSWORD_HASH_ITERATIONS", 600_000))
    login_max_failures: int = field(default_factory=lambda: _env_int("LOGIN_MAX_FAILURES", 5))
    login_failure_window_seconds: int = field(default_factory=lambda: _env_int("LOGIN_FAILURE_WINDOW_SECONDS", 60))
    login_lock_seconds: int = field(default_factory=lambda: _env_int("LOGIN_LOCK_SECONDS", 300))

    # Payments (Stripe REST dialect; localstripe in development and tests).
    stripe_api_base: str = field(default_factory=lambda: _env("STRIPE_API_BASE", "http://127.0.0.1:8420"))
    stripe_api_key: str = field(default_factory=lambda: _env("STRIPE_API_KEY", DEVELOPMENT_SECRETS["STRIPE_API_KEY"]))
    stripe_webhook_secret: str = field(
        default_factory=lambda: _env("STRIPE_WEBHOOK_SECRET", DEVELOPMENT_SECRETS["STRIPE_WEBHOOK_SECRET"])
    )
    localstripe_port: int = field(default_factory=lambda: _env_int("LOCALSTRIPE_PORT", 8420))
    # Per request: total timeout, and how often a call that is safe to repeat is retried (0: never).
    stripe_timeout_seconds: float = field(default_factory=lambda: float(_env("STRIPE_TIMEOUT_SECONDS", "10")))
    stripe_max_retries: int = field(default_factory=lambda: _env_int("STRIPE_MAX_RETRIES", 2))

    # Email.
    smtp_host: str = field(default_factory=lambda: _env("SMTP_HOST", "127.0.0.1"))
    smtp_port: int = field(default_factory=lambda: _env_int("SMTP_PORT", 1025))
    smtp_username: str = field(default_factory=lambda: _env("SMTP_USERNAME", ""))
    smtp_password: str = field(default_factory=lambda: _env("SMTP_PASSWORD", ""))
    smtp_starttls: bool = field(default_factory=lambda: _env_bool("SMTP_STARTTLS", False))
    smtp_timeout_seconds: int = field(default_factory=lambda: _env_int("SMTP_TIMEOUT_SECONDS", 10))
    mail_from: str = field(default_factory=lambda: _env("MAIL_FROM", "未来社区运营市场 <noreply@example.org>"))
    outbox_max_attempts: int = field(default_factory=lambda: _env_int("OUTBOX_MAX_ATTEMPTS", 8))
    # Development only: where the mail catcher `make run` starts keeps what it is sent (shown at /dev/mail).
    dev_mail_dir: Path = field(default_factory=lambda: Path(_env("DEV_MAIL_DIR", str(PROJECT_ROOT / ".mail"))))

    # Registry (优秀服务商名录).
    listing_term_months: int = field(default_factory=lambda: _env_int("LISTING_TERM_MONTHS", 24))
    objection_working_days: int = field(default_factory=lambda: _env_int("OBJECTION_WORKING_DAYS", 5))
    # Objections from the public (no account): per mobile phone, and per client address (0 switches it off).
    objection_per_phone_per_hour: int = field(default_factory=lambda: _env_int("OBJECTION_PER_PHONE_PER_HOUR", 5))
    objection_per_address_per_hour: int = field(default_factory=lambda: _env_int("OBJECTION_PER_ADDRESS_PER_HOUR", 20))
    registry_rule_window: int = field(default_factory=lambda: _env_int("REGISTRY_RULE_WINDOW", 3))
    registry_warn_score: int = field(default_factory=lambda: _env_int("REGISTRY_WARN_SCORE", 70))
    registry_suspend_score: int = field(default_factory=lambda: _env_int("REGISTRY_SUSPEND_SCORE", 60))
    registry_warn_satisfaction: int = field(default_factory=lambda: _env_int("REGISTRY_WARN_SATISFACTION", 80))
    registry_warn_complaints: int = field(default_factory=lambda: _env_int("REGISTRY_WARN_COMPLAINTS", 10))
    # /metrics (Prometheus): answered to `Authorization: Bearer METRICS_TOKEN`; with no token, only in
    # development.
    metrics_token: str = field(default_factory=lambda: _env("METRICS_TOKEN", ""))
    # Read caches per web worker (0: none); never stale, see core/cache.
    read_cache_entries: int = field(default_factory=lambda: _env_int("READ_CACHE_ENTRIES", 2000))

    # Market: matching weights ("coverage=0.4,district=0.15,..."; unnamed parts keep their defaults) and
    # the balance thresholds (ratio ≥ BALANCED_AT: 平衡; ≥ WARNING_AT: 预警; below: 失衡).
    match_weights: dict[str, float] = field(default_factory=lambda: _env_weights("MATCH_WEIGHTS"))
    balance_balanced_at: Decimal = field(default_factory=lambda: Decimal(_env("BALANCE_BALANCED_AT", "1.0")))
    balance_warning_at: Decimal = field(default_factory=lambda: Decimal(_env("BALANCE_WARNING_AT", "0.8")))
    balance_window_months: int = field(default_factory=lambda: _env_int("BALANCE_WINDOW_MONTHS", 12))
    # Quarterly performance evaluations: weights of the parts ("reports_on_time=0.3,complaints=0.1,...";
    # unnamed parts keep the defaults of market/performance.py) and the day of the next month by which a
    # monthly report counts as on time.
    performance_weights: dict[str, float] = field(default_factory=lambda: _env_weights("PERFORMANCE_WEIGHTS"))
    monthly_report_due_day: int = field(default_factory=lambda: _env_int("MONTHLY_REPORT_DUE_DAY", 10))
    # Residents: a community may be marked accepted (验收通过) only when its latest closed satisfaction survey
    # reached this rate, in percent.
    acceptance_min_satisfaction: Decimal = field(
        default_factory=lambda: Decimal(_env("ACCEPTANCE_MIN_SATISFACTION", "80"))
    )

    # Residents' points: small fixed amounts for taking part, how long points last, and what the community pays
    # an operator per point redeemed with it (fen).
    points_for_ballot: int = field(default_factory=lambda: _env_int("POINTS_FOR_BALLOT", 5))
    points_for_survey: int = field(default_factory=lambda: _env_int("POINTS_FOR_SURVEY", 10))
    points_expire_months: int = field(default_factory=lambda: _env_int("POINTS_EXPIRE_MONTHS", 24))
    points_fen_per_point: int = field(default_factory=lambda: _env_int("POINTS_FEN_PER_POINT", 10))

    # Scheduler: how often a waiting process tries to lead, renewal thresholds in days before the end, and
    # who receives the monthly balance report.
    scheduler_poll_seconds: float = field(default_factory=lambda: float(_env("SCHEDULER_POLL_SECONDS", "2")))
    # Touched every poll while the scheduler can reach the database; `fcom scheduler-health` reads its age.
    scheduler_heartbeat_file: Path = field(
        default_factory=lambda: Path(_env("SCHEDULER_HEARTBEAT_FILE", "/tmp/fcom-scheduler-heartbeat"))
    )
    renewal_thresholds_days: list[int] = field(
        default_factory=lambda: sorted({int(d) for d in _env_list("RENEWAL_THRESHOLDS_DAYS", "90,60,30")}, reverse=True)
    )
    report_recipients: list[str] = field(default_factory=lambda: _env_list("REPORT_RECIPIENTS", "jianwei@example.org"))

    # Demo data.
    demo_password: str = field(default_factory=lambda: _env("DEMO_PASSWORD", "demo-pass-2026"))

    @property
    def uses_embedded_database(self) -> bool:
        return self.database_url is None

    @property
    def is_development(self) -> bool:
        return self.environment == "development"

    def unsafe_for_production(self) -> list[str]:
        """What a server outside development must not run with, one line per setting (empty when safe)."""
        if self.is_development:
            return []
        problems = [
            f"{name} 仍是开发默认值，请设置为只有本部署知道的值"
            for name, value in (
                ("SECRET_KEY", self.secret_key),
                ("STRIPE_API_KEY", self.stripe_api_key),
                ("STRIPE_WEBHOOK_SECRET", self.stripe_webhook_secret),
            )
            if value == DEVELOPMENT_SECRETS[name]
        ]
        if self.debug:
            problems.append("DEBUG=1 会在错误页中泄露内部信息，生产环境请关闭")
        return problems

    def refuse_unsafe_production(self) -> None:
        """Stops a server or scheduler from starting outside development with development secrets."""
        problems = self.unsafe_for_production()
        if problems:
            raise UnsafeProductionSettings(problems)


class UnsafeProductionSettings(RuntimeError):
    """A server or scheduler outside development (APP_ENV is not development) with development secrets."""

    def __init__(self, problems: list[str]) -> None:
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"拒绝以生产模式启动（APP_ENV 不是 development）：\n{lines}")
        self.problems = problems


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
