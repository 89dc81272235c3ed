"""HTTP for the scheduler: the job list and run log, running a job now, flags, and the monthly report."""

from __future__ import annotations

import base64
from datetime import date
from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.params import Parameter

from core.accounts.principal import OFFICIAL_ROLES, Principal
from core.accounts.tables import Role
from core.auth import requires
from core.http.openapi import errors
from core.pagination import PageParams
from core.schemas import Page
from scheduler import engine, service
from scheduler.errors import JobNotFound
from scheduler.jobs import JOBS, job_named
from scheduler.schemas import FlagView, JobView, ResendInput, ResendView, ResolveInput, RunNow, RunView
from scheduler.tables import FlagState, RunStatus

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class JobController(Controller):
    path = "/api/v1/jobs"
    tags = ["定时任务"]

    @get(
        "/",
        operation_id="listJobs",
        guards=[requires(Role.city, Role.auditor)],
        responses=errors(403),
        summary="定时任务与下次运行时间（市建委、审计）",
    )
    async def index(self) -> list[JobView]:
        latest = await service.latest_runs()
        upcoming = engine.next_run_times(JOBS)
        return [
            JobView(
                name=job.name,
                title=job.title,
                schedule=job.schedule.label(),
                next_run_at=upcoming.get(job.name),
                last_period=last.period if (last := latest.get(job.name)) else None,
                last_status=last.status if last else None,
                last_finished_at=last.finished_at if last else None,
            )
            for job in JOBS
        ]

    @post(
        "/{name:str}/run",
        operation_id="runJobNow",
        guards=[requires(Role.city)],
        responses=errors(403, 404),
        summary="立即运行任务（指定期间；已成功的期间不会重复执行）",
        status_code=200,
    )
    async def run_now(self, principal: Principal, name: str, data: RunNow | None = None) -> list[RunView]:
        job = job_named(name)
        if job is None:
            raise JobNotFound()
        outcomes = await engine.run_now(job, data.period if data else None)
        await service.record_manual_run(principal, name, [o.period for o in outcomes])
        return [outcome.view() for outcome in outcomes]


class RunController(Controller):
    path = "/api/v1/job-runs"
    tags = ["定时任务"]

    @get(
        "/",
        operation_id="listJobRuns",
        guards=[requires(Role.city, Role.auditor)],
        responses=errors(403),
        summary="运行记录：状态、耗时与结果计数",
    )
    async def index(
        self,
        page: PageParams,
        job: Annotated[str | None, Parameter(max_length=60)] = None,
        status_filter: Annotated[RunStatus | None, Parameter(query="status")] = None,
    ) -> Page[RunView]:
        rows, total = await service.list_runs(
            job=job, status=status_filter.value if status_filter else None, limit=page.limit, offset=page.offset
        )
        return Page.of(rows, total, page)


class FlagController(Controller):
    path = "/api/v1/flags"
    tags = ["定时任务"]

    @get(
        "/",
        operation_id="listFlags",
        guards=[requires(*OFFICIAL_ROLES, Role.auditor, Role.operator)],
        responses=errors(403),
        summary="待办提醒（本人管理范围；运营商看到本企业名录到期提醒）",
    )
    async def index(
        self,
        principal: Principal,
        page: PageParams,
        kind: Annotated[str | None, Parameter(max_length=40)] = None,
        flag_state: Annotated[FlagState, Parameter(query="state")] = FlagState.open,
    ) -> Page[FlagView]:
        rows, total = await service.list_flags(
            principal, kind=kind, state=flag_state.value, limit=page.limit, offset=page.offset
        )
        return Page.of(rows, total, page)

    @post(
        "/{flag_id:int}/acknowledge",
        operation_id="acknowledgeFlag",
        guards=[requires(*OFFICIAL_ROLES)],
        responses=errors(403),
        summary="确认已知悉",
        status_code=200,
    )
    async def acknowledge(self, principal: Principal, flag_id: int) -> FlagView:
        return await service.acknowledge_flag(principal, flag_id)

    @post(
        "/{flag_id:int}/resolve",
        operation_id="resolveFlag",
        guards=[requires(*OFFICIAL_ROLES)],
        responses=errors(403),
        summary="办结（须填写处理情况）",
        status_code=200,
    )
    async def resolve(self, principal: Principal, flag_id: int, data: ResolveInput) -> FlagView:
        return await service.resolve_flag(principal, flag_id, data.reason)


# The report covers every district: for the city committee and auditors, not for one district's officials.
REPORT_READERS = requires(Role.city, Role.auditor)


class ReportController(Controller):
    path = "/api/v1/reports/balance"
    tags = ["定时任务"]

    @get(
        "/{month:str}/report.xlsx",
        operation_id="balanceReportXlsx",
        guards=[REPORT_READERS],
        responses=errors(403, 422),
        summary="收支平衡月报（Excel）",
        media_type=XLSX,
    )
    async def xlsx(self, report_month: date) -> Response[bytes]:
        built = await service.report_for(report_month)
        return Response(
            built.xlsx,
            media_type=XLSX,
            headers={"Content-Disposition": f'attachment; filename="balance-{report_month:%Y-%m}.xlsx"'},
        )

    @get(
        "/{month:str}/report.html",
        operation_id="balanceReportHtml",
        guards=[REPORT_READERS],
        responses=errors(403, 422),
        summary="收支平衡月报（网页）",
        media_type="text/html",
    )
    async def html(self, report_month: date) -> Response[str]:
        built = await service.report_for(report_month)
        # In a browser the chart comes inline as data, not as the email's attachment.
        inline = f"data:image/png;base64,{base64.b64encode(built.chart_png).decode()}"
        return Response(built.html.replace(f"cid:{built.chart_cid}", inline), media_type="text/html; charset=utf-8")

    @post(
        "/{month:str}/resend",
        operation_id="resendBalanceReport",
        guards=[requires(Role.city)],
        responses=errors(403),
        summary="重新发送某月月报（市建委）",
        status_code=200,
    )
    async def resend(self, principal: Principal, report_month: date, data: ResendInput | None = None) -> ResendView:
        queued = await service.resend_report(principal, report_month, data.recipients if data else None)
        return ResendView(queued=queued)


ROUTES = [JobController, RunController, FlagController, ReportController]
