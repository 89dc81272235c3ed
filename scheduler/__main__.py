"""`python -m scheduler`: one scheduler process. Start as many as you like; one leads, the others wait."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

import core  # noqa: F401  (sets the Piccolo configuration)
from core.settings import UnsafeProductionSettings, get_settings


async def main() -> None:
    from core.migrate import migrate
    from scheduler.engine import Scheduler, postgres
    from scheduler.jobs import JOBS

    engine = postgres()
    await migrate()
    await engine.start_connection_pool(min_size=1, max_size=5)
    settings = get_settings()
    scheduler = Scheduler(
        JOBS, poll_seconds=settings.scheduler_poll_seconds, heartbeat=settings.scheduler_heartbeat_file
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, scheduler.stop)
    try:
        await scheduler.run()
    finally:
        await engine.close_connection_pool()


if __name__ == "__main__":
    try:
        get_settings().refuse_unsafe_production()
    except UnsafeProductionSettings as exc:
        sys.exit(str(exc))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    asyncio.run(main())
