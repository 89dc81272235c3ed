from core.errors import Conflict, DomainError, NotAuthenticated, NotFound, PermissionDenied, TooManyRequests


class InvalidCredentials(NotAuthenticated):
    code = "auth.invalid_credentials"
    message = "用户名或密码错误"


class AccountLocked(TooManyRequests):
    code = "auth.locked"
    message = "登录失败次数过多，账户已暂时锁定，请稍后再试"


class UsernameTaken(Conflict):
    code = "user.username_taken"
    message = "用户名已被使用"


class EmailTaken(Conflict):
    code = "user.email_taken"
    message = "邮箱已被使用"


class UserNotFound(NotFound):
    code = "user.not_found"
    message = "用户不存在或无权查看"


class OrgNotFound(NotFound):
    code = "org.not_found"
    message = "组织不存在或无权查看"


class OrgOutOfScope(PermissionDenied):
    code = "org.out_of_scope"
    message = "该组织不在您的管辖范围内"


class RoleNotAllowedForOrg(DomainError):
    status_code = 422
    code = "user.role_org_mismatch"
    message = "该角色不能授予在此类组织上"


class RoleNotGrantable(PermissionDenied):
    code = "user.role_not_grantable"
    message = "您无权授予该角色"


class InvalidParent(DomainError):
    status_code = 422
    code = "org.invalid_parent"
    message = "上级组织类型不正确"


class WeakPassword(DomainError):
    status_code = 422
    code = "user.weak_password"
    message = "密码长度须为 8 至 128 个字符"
