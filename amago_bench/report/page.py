"""The leaderboard web page: one static HTML file, inline CSS and JS, figures as files next to
it (relative links), so it works opened from disk with no network.

One section per suite; each comparable group is its own table (never ranked together); every
table is sortable by any column (header buttons: mouse or keyboard, ``aria-sort`` set); each
row's manifest (agent config, suite hash, versions, git commit, budget, seeds) opens on demand
(``<details>``); measured-vs-reported comparison tables and the figures follow.
"""

from __future__ import annotations

import html
import json
import math
import re
from pathlib import Path
from typing import Sequence

import pandas as pd

from amago_bench.report import tables

CSS = """
:root { --fg:#1b1b1b; --muted:#5a5a5a; --line:#d0d0d0; --head:#f2f4f7; --accent:#0072B2; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); margin: 0; }
header { padding: 1.2rem 2rem .6rem; border-bottom: 1px solid var(--line); }
header h1 { margin: 0 0 .3rem; font-size: 1.5rem; }
nav a { margin-right: 1rem; color: var(--accent); }
main { padding: 0 2rem 3rem; max-width: 1400px; }
section.suite { border-bottom: 1px solid var(--line); padding-bottom: 1rem; }
h2 { margin-top: 1.6rem; } h3 { font-size: 1rem; margin: 1.2rem 0 .4rem; }
.muted, .prov { color: var(--muted); font-size: .85rem; }
.tablewrap { overflow-x: auto; }
table { border-collapse: collapse; margin: .4rem 0 1rem; font-size: .88rem; }
th, td { border-bottom: 1px solid var(--line); padding: .3rem .6rem; text-align: left; vertical-align: top; }
thead th { background: var(--head); position: sticky; top: 0; }
th button { font: inherit; font-weight: 600; background: none; border: 0; padding: 0; cursor: pointer; color: inherit; }
th button:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
th[aria-sort=ascending] button::after { content: " \\25B2"; }
th[aria-sort=descending] button::after { content: " \\25BC"; }
td { white-space: nowrap; }
td.num { font-variant-numeric: tabular-nums; }
td.none { color: var(--muted); font-style: italic; }
details pre { min-width: 32rem; max-width: 60rem; max-height: 24rem; overflow: auto; background: #fafafa; border: 1px solid var(--line);
  padding: .5rem; font-size: .78rem; white-space: pre-wrap; }
.figs { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 1rem; }
figure { margin: 0; border: 1px solid var(--line); padding: .5rem; }
figure img { width: 100%; height: auto; display: block; }
figcaption { font-size: .82rem; color: var(--muted); margin-top: .3rem; }
"""

JS = """
(function () {
  function key(cell) {
    var v = cell.getAttribute('data-sort');
    if (v === null) { v = cell.textContent.trim(); }
    var n = parseFloat(v);
    return (v !== '' && isFinite(n) && /^-?[0-9.]/.test(v)) ? {n: true, v: n} : {n: false, v: v.toLowerCase()};
  }
  function compare(a, b) {
    if (a.n && b.n) { return a.v - b.v; }
    if (a.n !== b.n) { return a.n ? -1 : 1; }
    return a.v < b.v ? -1 : (a.v > b.v ? 1 : 0);
  }
  function sortTable(table, col, th) {
    var asc = th.getAttribute('aria-sort') !== 'ascending';
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) { h.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (r1, r2) {
      var a = key(r1.cells[col]), b = key(r2.cells[col]);
      if (a.n !== b.n) { return a.n ? -1 : 1; }  /* cells without a number stay last either way */
      var c = compare(a, b);
      return asc ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  document.querySelectorAll('table.sortable').forEach(function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
      var btn = th.querySelector('button');
      if (btn) { btn.addEventListener('click', function () { sortTable(table, i, th); }); }
    });
  });
})();
"""

_NUM = re.compile(r"^\s*[~<=]*\s*(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)")


def _e(x) -> str:
    return html.escape(str(x), quote=True)


def _slug(s: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-")


def _cell(v) -> str:
    text = "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
    m = _NUM.match(text)
    cls = []
    if m:
        cls.append("num")
    if text in (tables.NO_DATA, tables.NOT_REPORTED, "not recorded"):
        cls.append("none")
    sort = f' data-sort="{_e(m.group(1))}"' if m else ""
    c = f' class="{" ".join(cls)}"' if cls else ""
    return f"<td{c}{sort}>{_e(text)}</td>"


def table_html(df: pd.DataFrame, caption: str, manifests: dict | None = None, rank: bool = False) -> str:
    """A sortable ``<table>`` of string cells; ``manifests`` (agent -> dict) adds a manifest column."""
    cols = list(df.columns)
    head = (["rank"] if rank else []) + cols + (["manifest"] if manifests is not None else [])
    out = ['<div class="tablewrap"><table class="sortable">', f"<caption class=\"muted\">{_e(caption)}</caption>",
           "<thead><tr>"]
    for h in head:
        if h == "manifest":
            out.append('<th scope="col">manifest</th>')
        else:
            out.append(f'<th scope="col"><button type="button" title="sort by {_e(h)}">{_e(h)}</button></th>')
    out.append("</tr></thead><tbody>")
    for i, row in enumerate(df.to_dict(orient="records"), 1):
        cells = ([f'<td class="num" data-sort="{i}">{i}</td>'] if rank else []) + [_cell(row[c]) for c in cols]
        if manifests is not None:
            m = manifests.get(row.get("agent"), {})
            cells.append(f"<td><details><summary>manifest</summary><pre>{_e(json.dumps(m, indent=1, default=str))}"
                         "</pre></details></td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    return "\n".join(out)


def page_html(sections: Sequence, provenance: str, metric: str = "iqm") -> str:
    """The whole page as a string. ``sections``: ``writer.Section`` objects."""
    nav = " ".join(f'<a href="#suite-{_slug(s.suite)}">{_e(s.suite)}</a>' for s in sections)
    body = []
    for s in sections:
        sid = f"suite-{_slug(s.suite)}"
        body.append(f'<section class="suite" id="{sid}" aria-labelledby="{sid}-h"><h2 id="{sid}-h">{_e(s.suite)}</h2>')
        body.append(f'<p class="muted">{_e(s.description)}</p>')
        if len(s.groups) > 1:
            body.append(f"<p>{len(s.groups)} groups of results differ in split, backend, evaluation size, task subset "
                        "or trial protocol: each is ranked on its own, never together.</p>")
        for g in s.groups:
            body.append(f"<h3>Leaderboard: {_e(g['title'])}</h3>")
            df = pd.DataFrame(g["rows"])
            body.append(table_html(df, f"{tables.METRIC_NAMES.get(metric, metric)} rank order; score: {g['score']}; "
                                   "95% stratified-bootstrap CIs over seeds. Click a column header to sort.",
                                   manifests=g["manifests"], rank=True))
        if s.comparison is not None and len(s.comparison):
            cells = tables.comparison_cells(s.comparison)
            body.append("<h3>Measured beside reported</h3>")
            body.append(table_html(cells, "measured: this database; reported: the papers ([T] text, [D] read off a "
                                   "figure), each with its budget"))
        if s.figures:
            body.append('<h3>Figures</h3><div class="figs">')
            for f in s.figures:
                png, svg = f"{f.path}.png", f"{f.path}.svg"
                body.append(f'<figure><a href="{_e(svg)}"><img src="{_e(png)}" alt="{_e(f.caption)}" loading="eager">'
                            f"</a><figcaption>{_e(f.caption)} (<a href=\"{_e(svg)}\">SVG</a>)</figcaption></figure>")
            body.append("</div>")
        if s.notes:
            body.append("<h3>Notes</h3><ul>" + "".join(f"<li>{_e(n)}</li>" for n in s.notes) + "</ul>")
        body.append("</section>")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>amago-bench leaderboard</title>
<style>{CSS}</style>
</head>
<body>
<header>
<h1>amago-bench leaderboard</h1>
<p class="prov">{_e(provenance)}</p>
<nav aria-label="suites">{nav}</nav>
</header>
<main>
{chr(10).join(body)}
</main>
<script>{JS}</script>
</body>
</html>
"""


def write_page(path: Path, sections: Sequence, provenance: str, metric: str = "iqm") -> str:
    """Write :func:`page_html` to ``path``; returns the path."""
    Path(path).write_text(page_html(sections, provenance, metric), encoding="utf-8")
    return str(path)
