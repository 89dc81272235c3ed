from core.errors import Conflict, DomainError, NotFound, PermissionDenied, TooManyRequests


class CreditCodeInvalid(DomainError):
    status_code = 422
    code = "operator.credit_code_invalid"
    message = "统一社会信用代码不正确"


class CreditCodeTaken(Conflict):
    code = "operator.credit_code_taken"
    message = "该统一社会信用代码已登记"


class OperatorNotFound(NotFound):
    code = "operator.not_found"
    message = "运营商不存在或无权查看"


class UnknownCategory(DomainError):
    status_code = 422
    code = "category.unknown"
    message = "服务类别不存在或已停用"


class CategoryExists(Conflict):
    code = "category.exists"
    message = "服务类别已存在"


class UnknownDistrict(DomainError):
    status_code = 422
    code = "operator.unknown_district"
    message = "服务区县不存在"


class ApplicationNotFound(NotFound):
    code = "application.not_found"
    message = "申请不存在或无权查看"


class ApplicationStateInvalid(Conflict):
    code = "application.invalid_state"
    message = "申请当前状态不允许此操作"


class DuplicateOpenApplication(Conflict):
    code = "application.duplicate_open"
    message = "该运营商在此类别已有未办结的申请"


class ChannelNotAllowed(PermissionDenied):
    code = "application.channel_not_allowed"
    message = "您不能以此渠道提交申请：自荐须由运营商本单位提交，推荐须由区县或街道提交"


class BatchNotFound(NotFound):
    code = "batch.not_found"
    message = "批次不存在"


class BatchPublished(Conflict):
    code = "batch.published"
    message = "该批次已发布，不可更改"


class BatchStateInvalid(Conflict):
    code = "batch.invalid_state"
    message = "批次当前状态不允许此操作"


class BatchTitleTaken(Conflict):
    code = "batch.title_taken"
    message = "批次名称已存在"


class ApplicationNotBatchable(Conflict):
    code = "batch.application_not_approved"
    message = "只有已通过且未编入其他批次的申请可以编入批次"


class ObjectionWindowClosed(Conflict):
    code = "batch.objection_window_closed"
    message = "公示期已结束或尚未开始，不能提出异议"


class ObjectionWindowOpen(Conflict):
    code = "batch.objection_window_open"
    message = "公示期尚未结束，暂不能发布"


class OpenObjections(Conflict):
    code = "batch.open_objections"
    message = "尚有未处理的异议，不能发布"


class ObjectionNotFound(NotFound):
    code = "objection.not_found"
    message = "异议不存在"


class ObjectionDecided(Conflict):
    code = "objection.decided"
    message = "该异议已处理"


class EntryNotInBatch(NotFound):
    code = "batch.entry_not_found"
    message = "该申请不在此批次中"


class EvaluationNotAllowed(PermissionDenied):
    code = "evaluation.not_allowed"
    message = "只有市级，或在评价期间与该运营商有服务合同的街道、区县，可以提交评价"


class StatusChangeInvalid(Conflict):
    code = "operator.status_change_invalid"
    message = "名录状态不能这样变更"


class ProposalNotFound(NotFound):
    code = "proposal.not_found"
    message = "建议不存在"


class ProposalDecided(Conflict):
    code = "proposal.decided"
    message = "该建议已处理"


class RenewalNotAllowed(Conflict):
    code = "application.renewal_not_allowed"
    message = "只有已通过的申请可以据此续期"


class ObjectionPhoneLimit(TooManyRequests):
    code = "objection.too_many_from_phone"
    message = "该手机号提交的异议过多，请一小时后再试"


class AllianceNotFound(NotFound):
    code = "alliance.not_found"
    message = "产业联盟不存在"


class AllianceNameTaken(Conflict):
    code = "alliance.name_taken"
    message = "已有同名产业联盟（name）"


class AllianceMembersInvalid(DomainError):
    status_code = 422
    code = "alliance.members_invalid"
    message = "联盟成员不正确：牵头运营商须以综合运营身份加入，专项成员须注明服务类别，同一成员同一类别只能出现一次（members）"


class AllianceMemberNotListed(DomainError):
    status_code = 422
    code = "alliance.member_not_listed"
    message = "联盟成员须在名录内且入库相应服务类别（members）"


class AllianceNotProposed(Conflict):
    code = "alliance.already_approved"
    message = "该产业联盟已批准"


class NotAllianceLead(PermissionDenied):
    code = "alliance.not_lead"
    message = "只有牵头运营商或市建委可以申报产业联盟"


class AllianceMemberExists(Conflict):
    code = "alliance.member_exists"
    message = "该运营商已是本联盟此服务类别的成员（operator_id）"


class AllianceMemberNotFound(NotFound):
    code = "alliance.member_not_found"
    message = "联盟成员不存在"


class AllianceMemberDateInvalid(DomainError):
    status_code = 422
    code = "alliance.member_date_invalid"
    message = "加入日期（joined_on）不能早于今天；退出日期（left_on）不能早于今天，且须晚于加入日期"


class AllianceMemberAlreadyLeft(Conflict):
    code = "alliance.member_left"
    message = "该成员已登记退出联盟"


class AllianceLeadCannotLeave(Conflict):
    code = "alliance.lead_cannot_leave"
    message = "牵头运营商的综合运营身份不能退出联盟（member_id）"
