"""HTML pieces of the run report: every value that comes from a stage goes through :func:`esc` or :func:`fmt`.

>>> esc("<script>alert(1)</script>")
'&lt;script&gt;alert(1)&lt;/script&gt;'
>>> fmt(None)
'<span class="missing">missing</span>'
>>> fmt(0.123456), fmt(12345), fmt(True), fmt([0.3456137766, 0.88])
('0.1235', '12,345', 'yes', '[0.3456, 0.8800]')
>>> table(["word"], [[fmt("<b>")]])
'<table><tr><th>word</th></tr><tr><td>&lt;b&gt;</td></tr></table>'
"""
from __future__ import annotations

import html
import math
from datetime import datetime
from typing import Any, Iterable, Sequence

MISSING = '<span class="missing">missing</span>'


def esc(value: Any) -> str:
    """``value`` as HTML text (quotes too, so it is safe inside an attribute)."""
    return html.escape(str(value), quote=True)


def fmt(value: Any) -> str:
    """A metric value as HTML: "missing" for None / NaN / infinities, four decimals for floats, thousands for ints."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if abs(value) >= 1e15:  # past float precision: every digit "{:,.0f}" would write beyond 17 is noise
            return f"{value:.4e}"
        return f"{value:.4f}" if abs(value) < 1e6 else f"{value:,.0f}"
    if isinstance(value, (list, tuple)):
        if value and all(is_num(v) or v is None for v in value):
            return "[" + ", ".join(fmt(v) for v in value) + "]"
        return esc(", ".join(str(v) for v in value))
    if isinstance(value, dict):
        return esc(", ".join(f"{k}: {v}" for k, v in value.items()))
    return esc(value)


def fmt_date(value: Any) -> str:
    """A build time (``created`` of a marker or provenance) as HTML: an ISO 8601 date-time as written, anything
    else (a number, a mapping, free text) "missing".

    >>> fmt_date("2026-01-01T00:00:00+00:00"), fmt_date({"a": 1}) == MISSING, fmt_date("yesterday") == MISSING
    ('2026-01-01T00:00:00+00:00', True, True)
    """
    if not isinstance(value, str):
        return MISSING
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return MISSING
    return esc(value)


def href(path: str) -> str:
    """A relative POSIX path as an attribute-safe URL: every name percent-encoded, so that ``#``, ``?`` or a
    ``%2F..`` in a file name stays part of that name.

    >>> href("../x/a#b?c/%2F..%2Fetc.png")
    '../x/a%23b%3Fc/%252F..%252Fetc.png'
    """
    from urllib.parse import quote

    return esc(quote(path, safe="/"))


def is_num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: Sequence[bool] | None = None,
          cls: str = "") -> str:
    """A table of already-escaped cells (``headers`` are escaped here)."""
    out = [f'<table{f" class={chr(34)}{esc(cls)}{chr(34)}" if cls else ""}><tr>']
    out += [f"<th>{esc(h)}</th>" for h in headers]
    out.append("</tr>")
    for row in rows:
        out.append("<tr>")
        for i, c in enumerate(row):
            num = numeric is not None and i < len(numeric) and numeric[i]
            out.append(f'<td class="num">{c}</td>' if num else f"<td>{c}</td>")
        out.append("</tr>")
    out.append("</table>")
    return "".join(out)


def flatten_metrics(metrics: dict, prefix: str = "") -> dict:
    """Nested metrics as one level of dotted keys (``x2static.teacher.teacher_seconds``), so that a table
    row holds one value, not a whole dictionary on one line.

    >>> flatten_metrics({"a": 1, "b": {"c": 2.5, "d": {"e": [1, 2]}}, "f": {}})
    {'a': 1, 'b.c': 2.5, 'b.d.e': [1, 2], 'f': {}}
    """
    out: dict = {}
    for k, v in metrics.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(flatten_metrics(v, key + "."))
        else:
            out[key] = v
    return out


#: a list longer than this shows its first values and its length
LIST_SHOWN = 12


def _value_cell(value: Any) -> str:
    """One value's table cell: a number right-aligned, anything else as wrapping text (a long list shortened)."""
    if is_num(value):
        return f'<td class="num">{fmt(value)}</td>'
    if isinstance(value, (list, tuple)) and len(value) > LIST_SHOWN:
        head = fmt(list(value[:LIST_SHOWN]))
        head = head[:-1] if head.endswith("]") else head
        return f'<td class="text">{head}, &hellip; <span class="muted">({len(value):,} values)</span></td>'
    return f'<td class="text">{fmt(value)}</td>'


def metric_table(metrics: dict, keys: Sequence[str] | None = None) -> str:
    """Two columns, key and value; ``keys`` lists the keys wanted (a key the stage lacks shows "missing").
    Numbers are right-aligned; text and lists wrap, so one long value cannot widen the whole table."""
    keys = list(metrics) if keys is None else list(keys)
    rows = [f"<tr><td><code>{esc(k)}</code></td>{_value_cell(metrics.get(k))}</tr>" for k in keys]
    return '<table class="metrics"><tr><th>metric</th><th>value</th></tr>' + "".join(rows) + "</table>"


def cards(items: Sequence[tuple[str, Any]]) -> str:
    """One card per figure; a card holds one value, so a list or mapping where it belongs shows "missing"."""
    shown = [(k, MISSING if isinstance(v, (list, tuple, dict)) else fmt(v)) for k, v in items]
    return '<div class="cards">' + "".join(
        f'<div class="card"><div class="v">{v}</div><div class="k">{esc(k)}</div></div>' for k, v in shown
    ) + "</div>"


def status_badge(status: str) -> str:
    word = status.split(":", 1)[0].strip()
    return f'<span class="status-{esc(word.replace(" ", "-"))}">{esc(status)}</span>'


def page(title: str, body: str, *, root: str, scripts: Sequence[str] = (), inline: str = "") -> str:
    """A whole page; ``root`` is the relative path from the page to the report folder ("" or "../../")."""
    tags = "".join(f'<script src="{esc(s)}"></script>' for s in scripts)
    run = f"<script>{inline}</script>" if inline else ""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title>"
            f'<link rel="stylesheet" href="{root}assets/report.css">{tags}</head><body>'
            f'<header class="top"><a class="brand" href="{root}index.html">chronolingua run report</a>'
            f'<a href="{root}index.html">stages</a><a href="{root}artifacts.html">published artifacts</a></header>'
            f"<main>{body}</main>{run}</body></html>\n")
