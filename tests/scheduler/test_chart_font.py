"""The balance report's chart reads in Chinese on a machine with no CJK font: every text it draws is in the
font the package ships, and that font has every glyph."""

from __future__ import annotations

import io
import warnings
from datetime import date

from fontTools.ttLib import TTFont
from matplotlib.text import Text

from core.clock import add_months
from scheduler.chart_font import FONT_PATH
from scheduler.report import chart_figure

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _year_of_months() -> dict:
    first = date(2026, 1, 1)
    return {
        "trend": [
            {"month": add_months(first, n), "income": 1_500_000 + 90_000 * n, "cost": 2_100_000 - 40_000 * n}
            for n in range(12)
        ]
    }


def _drawn_texts(figure) -> list[Text]:
    figure.canvas.draw()
    return [t for t in figure.findobj(Text) if t.get_visible() and t.get_text().strip()]


def test_the_chart_is_labelled_in_chinese():
    figure = chart_figure(_year_of_months())
    (axes,) = figure.axes
    assert [t.get_text() for t in axes.get_legend().get_texts()] == ["收入", "成本"]
    assert axes.get_ylabel() == "万元"
    assert [t.get_text() for t in axes.get_xticklabels()][:2] == ["2026-01", "2026-02"]


def test_every_text_is_drawn_in_the_shipped_font_which_has_every_glyph():
    figure = chart_figure(_year_of_months())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns "Glyph … missing from font(s)" when it draws a box
        texts = _drawn_texts(figure)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
    assert buffer.getvalue().startswith(PNG_SIGNATURE)
    glyphs = TTFont(FONT_PATH).getBestCmap()
    assert len(texts) > 10
    for text in texts:
        assert text.get_fontproperties().get_file() == str(FONT_PATH), text.get_text()
        assert all(ord(ch) in glyphs for ch in text.get_text()), text.get_text()
