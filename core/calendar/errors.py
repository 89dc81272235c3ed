from core.errors import Conflict, NotFound


class CalendarDayExists(Conflict):
    code = "calendar.day_exists"
    message = "该日期已在日历中，请修改而不是新增"


class CalendarDayNotFound(NotFound):
    code = "calendar.day_not_found"
    message = "日历中没有该日期"
