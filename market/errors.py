from core.errors import Conflict, DomainError, NotFound, PermissionDenied


class CommunityNotFound(NotFound):
    code = "community.not_found"
    message = "社区不存在或无权查看"


class StreetNotFound(DomainError):
    status_code = 422
    code = "community.street_invalid"
    message = "所属街道不存在或不在您的管理范围内"


class CommunityNameTaken(Conflict):
    code = "community.name_taken"
    message = "该街道下已有同名社区"


class PlanDatesInvalid(DomainError):
    status_code = 422
    code = "community.plan_dates_invalid"
    message = "计划开工日期不能晚于计划完工日期"


class NotCommunityOfficial(PermissionDenied):
    code = "community.not_official"
    message = "只有本社区所在街道、区县或市级的工作人员可以操作"


class NeedNotFound(NotFound):
    code = "need.not_found"
    message = "需求不存在或无权查看"


class NeedNotOpen(Conflict):
    code = "need.not_open"
    message = "该需求已对接或已关闭"


class ContractNotFound(NotFound):
    code = "contract.not_found"
    message = "服务合同不存在或无权查看"


class ContractTermInvalid(DomainError):
    status_code = 422
    code = "contract.term_invalid"
    message = "合同期限不正确：结束日期须晚于开始日期"


class ContractPartyMissing(DomainError):
    status_code = 422
    code = "contract.party_missing"
    message = "请指定签约社区或街道"


class ContractStateInvalid(Conflict):
    code = "contract.state_invalid"
    message = "合同当前状态不允许此操作"


class OperatorNotListed(Conflict):
    code = "contract.operator_not_listed"
    message = "运营商不在名录内，或未入库相应服务类别"


class CapacityExceeded(Conflict):
    code = "contract.capacity_exceeded"
    message = "运营商在营及拟签合同已达其运营能力上限"


class NeedsNotOfCommunity(DomainError):
    status_code = 422
    code = "contract.needs_invalid"
    message = "所列需求不属于该社区或已关闭"


class LedgerSourceExists(Conflict):
    code = "ledger.source_exists"
    message = "该来源的账目已登记，不能重复入账"


class LedgerVoucherExists(Conflict):
    code = "ledger.voucher_exists"
    message = "该社区已登记过此凭证号，同一凭证不能重复入账"


class LedgerKindNotAllowed(PermissionDenied):
    code = "ledger.kind_not_allowed"
    message = "您不能登记该类账目"


class LedgerMonthInvalid(DomainError):
    status_code = 422
    code = "ledger.month_invalid"
    message = "入账月份不正确：不能是未来月份"


class NoContractForMonth(Conflict):
    code = "ledger.no_contract_for_month"
    message = "该月份没有可申报的有效服务合同"


class WindowInvalid(DomainError):
    status_code = 422
    code = "balance.window_invalid"
    message = "统计区间不正确：开始月份须早于结束月份，且不超过 60 个月"


class PlanNotFound(NotFound):
    code = "allocation.not_found"
    message = "分配方案不存在或无权查看"


class PlanLineDecided(Conflict):
    code = "allocation.line_decided"
    message = "该分配建议已处理"


class PlanLineEmpty(Conflict):
    code = "allocation.line_unassigned"
    message = "该需求没有可分配的运营商"


class SubsidyInputInvalid(DomainError):
    status_code = 422
    code = "subsidy.input_invalid"
    message = "补助测算参数不正确"


class NoRegistryDecisionDue(Conflict):
    code = "contract.no_registry_decision_due"
    message = "该合同的运营商未被暂停或移出名录，或已就此作出处理决定"


class VoteWinnerNotFollowed(Conflict):
    code = "need.vote_winner_not_followed"
    message = "居民投票已选出运营商，选择其他运营商须写明理由（字段 reason）"


class FundNotFound(NotFound):
    code = "fund.not_found"
    message = "该社区尚未设立社区基金，或无权查看"


class FundExists(Conflict):
    code = "fund.exists"
    message = "该社区已设立社区基金"


class FundInsufficient(Conflict):
    code = "fund.insufficient"
    message = "社区基金余额不足，不能支出该金额（amount）"


class FundReferenceExists(Conflict):
    code = "fund.reference_exists"
    message = "该票据或凭证号（reference）已登记，不能重复入账"


class FranchiseTermsInvalid(DomainError):
    status_code = 422
    code = "franchise.terms_invalid"
    message = "特许经营合同须指定社区和独占经营范围（scope）；服务合同不能填写特许经营条款"


class FranchiseScopeTaken(Conflict):
    code = "franchise.scope_taken"
    message = "该社区的这一经营范围已有生效的特许经营合同"


class NotAFranchise(Conflict):
    code = "franchise.not_franchise"
    message = "该合同不是特许经营合同"


class FranchiseInvoiceExists(Conflict):
    code = "franchise.invoice_exists"
    message = "该月份的特许经营费已开票入账"


class FranchiseInvoiceEmpty(DomainError):
    status_code = 422
    code = "franchise.invoice_empty"
    message = "本月应收特许经营费为零：请填写经营收入（revenue）"


class PlatformNotFound(NotFound):
    code = "platform.not_found"
    message = "国企平台不存在或无权查看"


class PlatformOrgInvalid(DomainError):
    status_code = 422
    code = "platform.org_invalid"
    message = "国企平台须为已登记的国有企业（org_id），区级平台须指定所在区县（district_id）"


class PlatformExists(Conflict):
    code = "platform.exists"
    message = "该企业已被认定为国企平台"


class NotRenovationCommunity(DomainError):
    status_code = 422
    code = "platform.not_renovation"
    message = "只有旧改类社区可以交由国企平台统一运营（community_id）"


class CommunityOutsidePlatformDistrict(DomainError):
    status_code = 422
    code = "platform.outside_district"
    message = "区级国企平台只能运营本区县的社区（community_id）"


class CommunityUnderPlatform(Conflict):
    code = "platform.community_taken"
    message = "该社区在所选期间已由国企平台统一运营"


class MasterContractExists(Conflict):
    code = "platform.master_contract_exists"
    message = "该国企平台已有生效的总运营合同"


class MasterContractInvalid(DomainError):
    status_code = 422
    code = "platform.master_contract_invalid"
    message = "总运营合同不存在、已终止，或所签社区不在该平台统一运营范围内（master_contract_id）"


class ConsortiumInvalid(DomainError):
    status_code = 422
    code = "contract.consortium_invalid"
    message = "联合体合同不正确：须与已批准产业联盟的牵头运营商签订，每个服务类别由一名在盟成员承担，费用分成合计为 1（lines）"


class AcceptanceNeedsSurvey(Conflict):
    code = "community.acceptance_needs_survey"
    message = "验收通过须经居民满意度核验，请通过验收接口办理（POST /api/v1/communities/{id}/acceptance），不能直接修改状态（status）"
