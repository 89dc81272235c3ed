"""The balance report chart's Chinese font.

Machines in a data centre seldom have a CJK font, and without one matplotlib draws boxes for Chinese. The
package ships a subset of Noto Sans CJK SC (SIL Open Font License 1.1, fonts/OFL.txt) holding only the
characters the chart draws, a few kilobytes instead of sixteen megabytes. After changing CHART_TEXT, rebuild
it from Debian's fonts-noto-cjk:

    python -m scheduler.chart_font /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc
"""

from __future__ import annotations

import string
import sys
from functools import cache
from pathlib import Path

from matplotlib import font_manager
from matplotlib.font_manager import FontProperties

FONT_PATH = Path(__file__).parent / "fonts" / "NotoSansSC-chart.otf"

# Every word the chart draws (its legend, axis and the month labels), and the ASCII figures around them.
INCOME, COST, UNIT = "收入", "成本", "万元"
CHART_TEXT = INCOME + COST + UNIT + "年月（）：" + string.digits + string.ascii_letters + string.punctuation + " "

_SIMPLIFIED_CHINESE_IN_COLLECTION = 2  # NotoSansCJK-Regular.ttc: JP, KR, SC, TC, HK, then the mono faces


@cache
def chart_font() -> FontProperties:
    """The font the chart draws every text in, registered with matplotlib once per process."""
    font_manager.fontManager.addfont(str(FONT_PATH))
    return FontProperties(fname=str(FONT_PATH))


def build_subset(collection: Path, target: Path = FONT_PATH) -> int:
    """Writes the subset of the collection's Simplified Chinese face to `target`; returns its size in bytes."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    options = subset.Options()
    options.name_IDs = ["*"]  # keeps the copyright and licence records the OFL asks to travel with the font
    options.notdef_outline = True
    font = TTFont(str(collection), fontNumber=_SIMPLIFIED_CHINESE_IN_COLLECTION)
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=CHART_TEXT)
    subsetter.subset(font)
    font.save(str(target))
    return target.stat().st_size


if __name__ == "__main__":
    print(f"{FONT_PATH}: {build_subset(Path(sys.argv[1])):,} bytes")
