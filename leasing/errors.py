from core.errors import Conflict, DomainError, NotFound, PermissionDenied


class SpaceNotFound(NotFound):
    code = "space.not_found"
    message = "空间不存在或无权查看"


class SpaceNotManaged(PermissionDenied):
    code = "space.not_managed"
    message = "只有空间权属单位或所在街道、区县、市级工作人员可以操作"


class SpaceUseInvalid(DomainError):
    status_code = 422
    code = "space.use_invalid"
    message = "用途不在该空间允许的用途之内"


class SpaceAreaInvalid(DomainError):
    status_code = 422
    code = "space.area_invalid"
    message = "空间面积须大于 0"


class SpaceNotIdle(Conflict):
    code = "space.not_idle"
    message = "空间当前不是闲置状态"


class ListingNotFound(NotFound):
    code = "listing.not_found"
    message = "招租信息不存在或无权查看"


class ListingTermsInvalid(DomainError):
    status_code = 422
    code = "listing.terms_invalid"
    message = "招租条件不正确"


class ListingNotOpen(Conflict):
    code = "listing.not_open"
    message = "该招租已结束或不在申请期内"


class ApplicationNotFound(NotFound):
    code = "lease_application.not_found"
    message = "租赁申请不存在或无权查看"


class ApplicationInvalid(DomainError):
    status_code = 422
    code = "lease_application.invalid"
    message = "租赁申请不符合招租条件"


class AlreadyApplied(Conflict):
    code = "lease_application.duplicate"
    message = "已申请过该招租"


class PreferentialNeedsPublicUse(DomainError):
    status_code = 422
    code = "listing.preferential_needs_public_use"
    message = "公益性协议出租的空间须允许至少一种公共服务类用途（公共服务、养老、托育、文化、健康）"


class PreferentialNeedsListedOperator(Conflict):
    code = "lease_application.not_listed"
    message = "公益性协议出租只面向名录内、状态正常的运营商，且用途须为公共服务类"


class LeaseNotFound(NotFound):
    code = "lease.not_found"
    message = "租约不存在或无权查看"


class LeaseOverlap(Conflict):
    code = "lease.overlap"
    message = "该空间在所选期间已出租"


class LeaseStateInvalid(Conflict):
    code = "lease.state_invalid"
    message = "租约当前状态不允许此操作"


class LeaseTermInvalid(DomainError):
    status_code = 422
    code = "lease.term_invalid"
    message = "租期不正确"


class InvoiceNotFound(NotFound):
    code = "invoice.not_found"
    message = "租金账单不存在或无权查看"


class InvoiceNotPayable(Conflict):
    code = "invoice.not_payable"
    message = "该账单无需支付"


class PaymentInProgress(Conflict):
    code = "payment.in_progress"
    message = "该账单有一笔支付正在处理中，请稍后查看结果"


class PaymentUnavailable(DomainError):
    status_code = 503
    code = "payment.unavailable"
    message = "支付服务暂时不可用，请稍后重试"


class WebhookSignatureInvalid(DomainError):
    status_code = 400
    code = "webhook.signature_invalid"
    message = "回调签名无效"


class SpaceListed(Conflict):
    code = "space.listed"
    message = "空间正在招租，请先确定承租方或撤销招租"


class LesseeNotEligible(Conflict):
    code = "lease.lessee_not_eligible"
    message = "承租运营商已被暂停或移出名录"


class OwnerNotInScope(DomainError):
    status_code = 422
    code = "space.owner_invalid"
    message = "权属单位不存在或不在您的管理范围内"


class ListingCriteriaInvalid(DomainError):
    status_code = 422
    code = "listing.criteria_invalid"
    message = "评分权重（criteria）不正确：须包含该招租方式的每个评分项，每项 0 至 100，合计 100"


class ListingWindowOpen(Conflict):
    code = "listing.window_open"
    message = "申请期尚未结束，截止后才能评分和确定承租方"


class NotPanelMember(PermissionDenied):
    code = "panel.not_member"
    message = "只有招租空间所在街道的工作人员可以评分"


class PanelScoreInvalid(DomainError):
    status_code = 422
    code = "panel.score_invalid"
    message = "评分（scores）不正确"


class PanelScoreDuplicate(Conflict):
    code = "panel.score_duplicate"
    message = "您已为该申请评过分"


class ListingResultNotPublic(NotFound):
    code = "listing.result_not_public"
    message = "该招租尚未确定承租方，暂无公开结果"


class DepositLeaseInForce(Conflict):
    code = "deposit.lease_in_force"
    message = "租约尚未结束或终止，押金暂不退还"


class DepositNotPaid(Conflict):
    code = "deposit.not_paid"
    message = "该租约没有已缴纳的押金"


class DepositAmountInvalid(DomainError):
    status_code = 422
    code = "deposit.amount_invalid"
    message = "扣留金额（retained_amount）不能超过已缴押金"


class DepositAlreadySettled(Conflict):
    code = "deposit.already_settled"
    message = "该租约的押金已处理"
