"""HTML building blocks of the report: the style sheet, escaping, number formats, tables.

Every value goes through `esc` before it reaches the page, model text included.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

import pandas as pd

from dilemma.report.transcript import Line

CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;
max-width:1200px;padding:0 1em;color:#222;line-height:1.4;overflow-wrap:anywhere}
h1{font-size:1.6em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
h3{margin-top:1.4em}
.scroll{overflow-x:auto;max-width:100%;margin:.6em 0}
table{border-collapse:collapse;margin:0;font-size:.86em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top;
overflow-wrap:normal}
table.kv td{overflow-wrap:anywhere;min-width:12em}
th{background:#f2f2f2}td.num{text-align:right;font-variant-numeric:tabular-nums;
white-space:nowrap}
tr.sig td{background:#fff3cd}
.verdict{font-weight:600;padding:.5em .7em;border-left:4px solid #888;background:#f7f7f7}
.verdict.yes{border-color:#c0392b}.verdict.no{border-color:#27ae60}
.verdict.maybe{border-color:#b9770e}
ul.verdicts{list-style:none;padding:0}ul.verdicts li{margin:.4em 0;font-weight:400}
.note{color:#555;font-size:.9em}
img{max-width:100%;height:auto;border:1px solid #eee}
.fig{overflow-x:auto;max-width:100%;margin:1em 0}
details{border:1px solid #ddd;border-radius:4px;margin:.4em 0;padding:.3em .6em}
summary{cursor:pointer;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.88em}
.tr{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.82em;white-space:pre-wrap;
word-break:break-word}
.tr div{margin:0}.t-title{font-weight:700}.t-meta{color:#555}
.t-round{font-weight:700;margin-top:.7em!important;border-top:1px solid #eee}
.t-section{color:#2c3e50;font-style:italic}.t-state{font-weight:600}
.t-statement{color:#1a5276}.t-private{color:#7d3c98}
.t-flag{color:#b9770e;font-weight:700}.t-war{color:#c0392b;font-weight:700}
.t-treaty{color:#117a65}.t-end{color:#444}.t-outcome{font-weight:600}.t-note{color:#888}
nav ul{columns:2}code{font-size:.9em;overflow-wrap:anywhere}
@media (max-width:600px){body{margin:1em auto;padding:0 .6em}nav ul{columns:1}
h1{font-size:1.3em}details{padding:.2em .3em}}
"""


def esc(value: object) -> str:
    """HTML-escaped text of any value (quotes too)."""
    return escape("" if value is None else str(value), quote=True)


def fmt(value: Any, digits: int = 3) -> str:
    """A short display form: integers as is, floats to `digits` significant figures."""
    if value is None or value is pd.NA:
        return ""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if value.is_integer() and abs(value) < 1e6:
            return str(int(value))
        if abs(value) < 1e-2 or abs(value) >= 1e5:
            return f"{value:.{digits}g}"
        decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
        return f"{value:.{decimals}f}"
    return str(value)


def table(
    header: Sequence[str], rows: Iterable[Sequence[Any]], row_class: Sequence[str] = ()
) -> str:
    """An HTML table; every cell is escaped, numbers right-aligned."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = []
    for n, row in enumerate(rows):
        cells = []
        for v in row:
            num = isinstance(v, int | float) and not isinstance(v, bool)
            cls = ' class="num"' if num else ""
            cells.append(f"<td{cls}>{esc(fmt(v))}</td>")
        cls = f' class="{row_class[n]}"' if n < len(row_class) and row_class[n] else ""
        body.append(f"<tr{cls}>{''.join(cells)}</tr>")
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def img(uri: str, alt: str, min_width: int | None = None) -> str:
    """A plot. With `min_width` (CSS px) it is never drawn narrower: on a small screen it
    scrolls sideways inside its own box, so its numbers stay readable."""
    if min_width is None:
        return f'<p><img src="{uri}" alt="{esc(alt)}"></p>'
    return (
        f'<div class="fig"><img src="{uri}" alt="{esc(alt)}"'
        f' style="min-width:{int(min_width)}px"></div>'
    )


def or_unknown(value: object) -> object:
    return "?" if value is None else value


def counted(values: Iterable[Any], limit: int = 8) -> str:
    counts = Counter(str(v) for v in values)
    items = [f"{v} (x{n})" if len(counts) > 1 else v for v, n in counts.most_common(limit)]
    more = f"; and {len(counts) - limit} more" if len(counts) > limit else ""
    return "; ".join(items) + more


def seed_ranges(seeds: Iterable[int]) -> str:
    """Sorted distinct seeds with runs compressed: `0-9, 12`."""
    parts: list[list[int]] = []
    for x in sorted(set(seeds)):
        if parts and x == parts[-1][1] + 1:
            parts[-1][1] = x
        else:
            parts.append([x, x])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in parts)


def lines_html(lines: list[Line]) -> str:
    return "".join(
        f'<div class="t-{esc(line.style)}" style="padding-left:{1.5 * line.indent}em">'
        f"{esc(line.text)}</div>"
        for line in lines
    )
