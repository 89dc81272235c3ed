from core.errors import Conflict, DomainError, NotFound, PermissionDenied, TooManyRequests


class CodeInvalid(DomainError):
    status_code = 422
    code = "resident.code_invalid"
    message = "验证码不正确或已过期（字段 code）"


class CodeExhausted(TooManyRequests):
    code = "resident.code_exhausted"
    message = "验证码错误次数过多，请重新获取验证码"


class CodeTooSoon(TooManyRequests):
    code = "resident.code_too_soon"
    message = "验证码发送过于频繁，请稍后再试（字段 phone）"


class ClientTooBusy(TooManyRequests):
    code = "resident.client_rate_limited"
    message = "本网络地址获取验证码过于频繁，请稍后再试"


class PhoneTaken(Conflict):
    code = "resident.phone_taken"
    message = "该手机号已注册，请直接登录（字段 phone）"


class NotRegistered(NotFound):
    code = "resident.not_registered"
    message = "该手机号尚未注册居民账户（字段 phone）"


class CommunityUnknown(DomainError):
    status_code = 422
    code = "resident.community_unknown"
    message = "社区不存在（字段 community_id）"


class ResidentNotFound(NotFound):
    code = "resident.not_found"
    message = "居民账户不存在或已注销"


class HouseholdNotFound(NotFound):
    code = "household.not_found"
    message = "住户不存在或无权查看"


class NotCommunityStreet(PermissionDenied):
    code = "household.not_street"
    message = "只有社区所属街道可以核实住户或导入住户名册"


class RegisterInvalid(DomainError):
    status_code = 422
    code = "household.register_invalid"
    message = "住户名册有错误，未导入任何一行（字段 csv）"


class PollNotFound(NotFound):
    code = "poll.not_found"
    message = "投票不存在或无权查看"


class NeedUnknown(DomainError):
    status_code = 422
    code = "poll.need_unknown"
    message = "社区需求不存在或无权查看（字段 need_id）"


class NeedNotOpen(Conflict):
    code = "poll.need_not_open"
    message = "该需求已关闭，不能发起投票"


class OptionNotShortlisted(DomainError):
    status_code = 422
    code = "poll.option_not_shortlisted"
    message = "运营商不在该需求的推荐名单中（字段 operator_ids）"


class TooFewOptions(DomainError):
    status_code = 422
    code = "poll.too_few_options"
    message = "投票至少需要两个选项（字段 operator_ids、packages）"


class WindowInvalid(DomainError):
    status_code = 422
    code = "poll.window_invalid"
    message = "投票结束时间必须晚于开始时间，且不早于当前时间（字段 closes_at）"


class PollNotOpen(Conflict):
    code = "poll.not_open"
    message = "投票不在进行中"


class OptionUnknown(DomainError):
    status_code = 422
    code = "poll.option_unknown"
    message = "该选项不属于本次投票（字段 option_id）"


class HouseholdUnconfirmed(PermissionDenied):
    code = "poll.household_unconfirmed"
    message = "您的住户尚未经街道核实，暂不能投票"


class PollNotClosed(Conflict):
    code = "poll.not_closed"
    message = "投票尚未结束，暂无结果"


class AlreadyDecided(Conflict):
    code = "poll.already_decided"
    message = "已登记投票结果的采纳决定"


class DeviationNeedsReason(DomainError):
    status_code = 422
    code = "poll.deviation_reason_required"
    message = "不采纳投票结果须填写书面理由（字段 reason）"


class ReceiptNotFound(NotFound):
    code = "poll.receipt_not_found"
    message = "没有与此回执码对应的选票（回执码有误，或该选票已被同户的新选票替换）"


class QuorumInvalid(DomainError):
    status_code = 422
    code = "poll.quorum_invalid"
    message = "法定参与率应大于 0 且不超过 1（字段 quorum）"


# Points and the time bank ----------------------------------------------------------------------


class InsufficientPoints(Conflict):
    code = "points.insufficient"
    message = "积分余额不足（字段 service_id）"


class InsufficientHours(Conflict):
    code = "timebank.insufficient"
    message = "时间银行余额不足（字段 hours）"


class HoursInvalid(DomainError):
    status_code = 422
    code = "points.hours_invalid"
    message = "时长须大于 0，且以一刻钟（0.25 小时）为单位（字段 hours）"


class ActivityInvalid(DomainError):
    status_code = 422
    code = "points.activity_invalid"
    message = "普通志愿活动须填写每小时积分或固定积分之一，养老服务活动计入时间银行、不填积分（字段 points_per_hour）"


class ActivityWindowInvalid(DomainError):
    status_code = 422
    code = "points.activity_window_invalid"
    message = "活动结束时间必须晚于开始时间（字段 ends_at）"


class ActivityNotFound(NotFound):
    code = "points.activity_not_found"
    message = "志愿活动不存在或无权查看"


class AlreadySignedUp(Conflict):
    code = "points.already_signed_up"
    message = "您已报名该志愿活动"


class ActivityOver(Conflict):
    code = "points.activity_over"
    message = "志愿活动已结束，不能再报名"


class SignupNotFound(NotFound):
    code = "points.signup_not_found"
    message = "报名记录不存在或无权查看"


class SignupConfirmed(Conflict):
    code = "points.signup_confirmed"
    message = "该报名的服务时长已确认，积分已发放"


class NoContractInCommunity(PermissionDenied):
    code = "points.no_contract"
    message = "运营商与该社区没有服务合同，不能发布积分兑换服务（字段 community_id）"


class ServiceInvalid(DomainError):
    status_code = 422
    code = "points.service_window_invalid"
    message = "兑换服务的截止时间必须晚于开始时间，且不早于当前时间（字段 closes_at）"


class ServiceNotFound(NotFound):
    code = "points.service_not_found"
    message = "积分兑换服务不存在或无权查看"


class ServiceUnavailable(Conflict):
    code = "points.service_unavailable"
    message = "该服务不在兑换期内或名额已满（字段 service_id）"


class RedemptionNotFound(NotFound):
    code = "points.redemption_not_found"
    message = "兑换记录不存在或无权查看"


class RedemptionSettled(Conflict):
    code = "points.redemption_settled"
    message = "该兑换已确认服务或已取消"


class WithdrawalNotFound(NotFound):
    code = "timebank.withdrawal_not_found"
    message = "时间银行支取申请不存在或无权查看"


class WithdrawalConfirmed(Conflict):
    code = "timebank.withdrawal_confirmed"
    message = "该支取申请已确认"


class RecipientUnknown(DomainError):
    status_code = 422
    code = "timebank.recipient_unknown"
    message = "受赠人须为本市已注册居民，且不能是本人（字段 recipient_phone）"


class StatementMonthInvalid(DomainError):
    status_code = 422
    code = "points.month_invalid"
    message = "月份格式应为 YYYY-MM，且不晚于本月（字段 month）"


# Satisfaction surveys --------------------------------------------------------------------------


class SurveyNotFound(NotFound):
    code = "survey.not_found"
    message = "满意度测评不存在或无权查看"


class SurveyNotOpen(Conflict):
    code = "survey.not_open"
    message = "满意度测评不在进行中"


class SurveyNotClosed(Conflict):
    code = "survey.not_closed"
    message = "满意度测评尚未结束，暂无结果"


class SurveyHouseholdUnconfirmed(PermissionDenied):
    code = "survey.household_unconfirmed"
    message = "您的住户尚未经街道核实，暂不能参加满意度测评"


class SurveyFileInvalid(DomainError):
    status_code = 422
    code = "survey.file_invalid"
    message = "线下测评结果文件有错误，未导入任何一行（字段 csv）"


class NotDistrictSurveyor(PermissionDenied):
    code = "survey.not_district_surveyor"
    message = "只有受托负责该区的第三方测评机构可以上传该合同的线下测评结果"


class NoClosedSurvey(Conflict):
    code = "community.no_closed_survey"
    message = "该社区还没有已结束且有答卷的居民满意度测评，不能验收通过"


class SatisfactionTooLow(Conflict):
    code = "community.satisfaction_too_low"
    message = "该社区最近一次居民满意度低于验收要求，不能验收通过"


class AlreadyAccepted(Conflict):
    code = "community.already_accepted"
    message = "该社区已验收通过"
