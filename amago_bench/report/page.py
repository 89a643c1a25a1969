"""The leaderboard page: one static HTML file, inline CSS and JS, figures as files next to
it (relative links), so it works opened from disk with no network.

Top to bottom: a banner when the results are a pipeline check (smoke budget, or fewer than
MIN_SEEDS training seeds); a filter box; the overview (one row per agent, one column per suite:
the headline metric with its 95% interval, linked to the suite); per suite a compact
leaderboard (each comparable group its own table, never ranked together) and its main figures,
then, folded away, the per-task table, the comparison with the papers' numbers (rows with a
reported number; every row on demand), the manifests as readable tables and the other figures;
last, how to score your own agent. Every table sorts by any column (header buttons: mouse or
keyboard, ``aria-sort`` set). Laid out to fit a 1366 px screen without horizontal scrolling.
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

#: Fewer training seeds than this make a result a pipeline check, not a ranking.
MIN_SEEDS = 3
#: The figure kinds (writer.FIGURE_KINDS) a suite shows unfolded, of its first split: the aggregate
#: metrics and the per-task results.
MAIN_FIGURES = ("aggregate", "task_scores")

CSS = """
:root { --fg:#1b1b1b; --muted:#5a5a5a; --line:#d0d0d0; --head:#f2f4f7; --accent:#0072B2; --warn:#fff4d6; --warnline:#d9a400; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); margin: 0; }
header { padding: 1rem 1.5rem .5rem; border-bottom: 1px solid var(--line); }
header h1 { margin: 0 0 .2rem; font-size: 1.45rem; }
nav a { margin-right: .9rem; color: var(--accent); white-space: nowrap; }
main { padding: 0 1.5rem 3rem; max-width: 1340px; }
section { border-bottom: 1px solid var(--line); padding-bottom: .8rem; }
h2 { margin: 1.4rem 0 .3rem; } h3 { font-size: 1rem; margin: 1rem 0 .3rem; }
.muted, .prov { color: var(--muted); font-size: .85rem; }
.banner { background: var(--warn); border: 1px solid var(--warnline); border-left-width: 6px; padding: .6rem 1rem;
  margin: 1rem 0; }
.banner strong { display: block; font-size: 1.05rem; }
.tools { display: flex; gap: .6rem; align-items: center; margin: .8rem 0; flex-wrap: wrap; }
.tools input { font: inherit; padding: .3rem .5rem; width: 22rem; max-width: 100%; border: 1px solid #888; border-radius: 3px; }
.tablewrap { max-width: 100%; }
table { border-collapse: collapse; margin: .3rem 0 .8rem; font-size: .86rem; max-width: 100%; }
caption { text-align: left; caption-side: top; padding: .2rem 0; }
th, td { border-bottom: 1px solid var(--line); padding: .25rem .5rem; text-align: left; vertical-align: top; }
thead th { background: var(--head); position: sticky; top: 0; z-index: 1; font-weight: 600; }
th button { font: inherit; background: none; border: 0; padding: 0; cursor: pointer; color: inherit; text-align: left; }
th button:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
th[aria-sort=ascending] button::after { content: " \\25B2"; }
th[aria-sort=descending] button::after { content: " \\25BC"; }
td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
td .ci { display: block; color: var(--muted); font-size: .78rem; }
td.best { font-weight: 700; }
td.none { color: var(--muted); font-style: italic; }
td.wrap { max-width: 22rem; }
td a { color: inherit; }
.swatch { display: inline-block; width: .7rem; height: .7rem; border-radius: 2px; margin-right: .35rem; vertical-align: baseline; }
details { margin: .4rem 0; }
details > summary { cursor: pointer; color: var(--accent); font-weight: 600; }
details.inner > summary { font-weight: 400; }
table.kv td:first-child { color: var(--muted); white-space: nowrap; }
table.kv td { max-width: 60rem; overflow-wrap: anywhere; }
code, pre { font-size: .82rem; }
pre { background: #f6f6f6; border: 1px solid var(--line); padding: .5rem; overflow-x: auto; max-width: 100%; }
.figs { display: grid; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr)); gap: .8rem; }
figure { margin: 0; border: 1px solid var(--line); padding: .4rem; max-height: 42rem; overflow-y: auto; }
figure img { width: 100%; height: auto; display: block; }
figcaption { font-size: .8rem; color: var(--muted); margin-top: .3rem; }
tr[hidden] { display: none; }
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
  /* filter: hide body rows of every table that do not contain the text (case-insensitive) */
  var box = document.getElementById('filter'), count = document.getElementById('filter-count');
  if (box) {
    box.addEventListener('input', function () {
      var q = box.value.trim().toLowerCase(), shown = 0, total = 0;
      document.querySelectorAll('table.filterable tbody tr').forEach(function (tr) {
        var hit = q === '' || tr.textContent.toLowerCase().indexOf(q) !== -1;
        tr.hidden = !hit; total += 1; if (hit) { shown += 1; }
      });
      count.textContent = q === '' ? '' : shown + ' of ' + total + ' rows match';
    });
  }
  /* a link into folded details opens them */
  function reveal(id) {
    var el = id && document.getElementById(id);
    for (var d = el; d; d = d.parentElement) { if (d.tagName === 'DETAILS') { d.open = true; } }
  }
  window.addEventListener('hashchange', function () { reveal(location.hash.slice(1)); });
  reveal(location.hash.slice(1));
})();
"""

_NUM = re.compile(r"^\s*[~<=]*\s*(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)")
_IV = re.compile(r"^(\s*[~<=]*\s*-?[\d.]+%?) (\[.*\])$")


def _e(x) -> str:
    return html.escape(str(x), quote=True)


def _slug(s: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-")


def _cell(v, best: bool = False, link: str | None = None) -> str:
    """One ``<td>``: a number sorts by its value; ``0.51 [0.4, 0.6]`` shows the interval on a
    second, smaller line; "no data"-like cells are muted."""
    text = "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
    m = _NUM.match(text)
    cls = ["num"] if m else []
    if text in (tables.NO_DATA, tables.NOT_REPORTED, "not recorded", "not run", "-"):
        cls.append("none")
    if best:
        cls.append("best")
    if not m and len(text) > 40:
        cls.append("wrap")
    iv = _IV.match(text)
    inner = f'{_e(iv.group(1))}<span class="ci">{_e(iv.group(2))}</span>' if iv else _e(text)
    if link:
        inner = f'<a href="{_e(link)}">{inner}</a>'
    sort = f' data-sort="{_e(m.group(1))}"' if m else ""
    c = f' class="{" ".join(cls)}"' if cls else ""
    return f"<td{c}{sort}>{inner}</td>"


def _agent_cell(label: str, link: str | None = None) -> str:
    from amago_bench.report.figures import colour_of

    name = _e(label) if not link else f'<a href="{_e(link)}">{_e(label)}</a>'
    return (f'<th scope="row" style="font-weight:400; white-space:nowrap"><span class="swatch" style="background:{colour_of(label)}" '
            f'aria-hidden="true"></span>{name}</th>')


def table_html(df: pd.DataFrame, caption: str, rank: bool = False, best: dict[str, str] | None = None,
               links: dict[str, dict] | None = None, agent_links: dict[str, str] | None = None,
               cls: str = "main", note: str = "") -> str:
    """A sortable, filterable ``<table>`` of string cells, ``caption`` its title, ``note`` (what
    the numbers are) a paragraph above it. ``best``: column -> "max"/"min" (its best
    leading number in bold); ``links``: column -> {agent: href}; ``agent_links``: agent -> href of
    its manifest."""
    cols = list(df.columns)
    head = (["rank"] if rank else []) + cols
    bold = {c: tables.best_rows(df, c, w) for c, w in (best or {}).items() if c in cols}
    out = [f'<p class="muted">{_e(note)}</p>' if note else "", f'<div class="tablewrap"><table class="sortable filterable {cls}">',
           f'<caption class="muted">{_e(caption)}</caption>', "<thead><tr>"]
    for h in head:
        out.append(f'<th scope="col"><button type="button" title="sort by {_e(h)}">{_e(h)}</button></th>')
    out.append("</tr></thead><tbody>")
    for i, row in enumerate(df.to_dict(orient="records")):
        cells = [f'<td class="num" data-sort="{i + 1}">{i + 1}</td>'] if rank else []
        for c in cols:
            if c == "agent" and row[c] not in ("-", ""):
                cells.append(_agent_cell(str(row[c]), (agent_links or {}).get(row[c])))
            else:
                cells.append(_cell(row[c], i in bold.get(c, ()), (links or {}).get(c, {}).get(row.get("agent"))))
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    return "\n".join(out)


def _main_group(s) -> dict | None:
    """The group a suite's headline comes from: the largest of the test split, else of another split."""
    mains = sorted([g for g in s.groups if g.get("main")], key=lambda g: g.get("split") != "test")
    return mains[0] if mains else (s.groups[0] if s.groups else None)


def pipeline_reasons(sections: Sequence) -> list[str]:
    """Why these results are a pipeline check and not a ranking, per suite: a smoke training
    budget, or fewer than MIN_SEEDS training seeds (evaluation seeds for untrained-only suites)."""
    out = []
    for s in sections:
        g = _main_group(s)
        if g is None:
            continue
        why = []
        smoke = sorted(a for a, b in s.budgets.items() if "smoke" in str(b))
        if smoke:
            why.append("smoke training budget")
        trained = [int(m.group(1)) for h in g.get("headline", [])
                   if (m := re.search(r"(\d+) training seeds?$", str(s.budgets.get(h["agent"], ""))))]
        seeds = trained or [int(h["seeds"]) for h in g.get("headline", [])]
        if seeds and max(seeds) < MIN_SEEDS:
            why.append(f"{max(seeds)} {'training ' if trained else ''}seed{'s' if max(seeds) != 1 else ''} "
                       f"(fewer than {MIN_SEEDS})")
        if why:
            out.append(f"{s.suite}: {', '.join(why)}")
    return out


def _grouped(reasons: list[str]) -> list[str]:
    """``suite: why`` lines as one line per distinct why: ``why: suite, suite``."""
    by: dict[str, list[str]] = {}
    for r in reasons:
        suite, _, why = r.partition(": ")
        by.setdefault(why, []).append(suite)
    return [f"{why}: {', '.join(suites)}" for why, suites in by.items()]


def overview_frame(sections: Sequence, metric: str) -> tuple[pd.DataFrame, dict[str, dict], list[str]]:
    """One row per agent label, one column per suite: the headline metric of the suite's main
    group with its interval ("not run" where the agent has none). Returns (cells, links per
    column, column descriptions)."""
    agents: list[str] = []
    cols: dict[str, dict[str, str]] = {}
    links: dict[str, dict] = {}
    notes = []
    for s in sections:
        g = _main_group(s)
        if g is None:
            continue
        col = f"{s.suite} ({g.get('split', '')})"
        cols[col] = {}
        links[col] = {}
        for h in g.get("headline", []):
            agents.append(h["agent"])
            cols[col][h["agent"]] = tables.interval(h["estimate"], h["lower"], h["upper"], h["seeds"])
            links[col][h["agent"]] = f"#suite-{_slug(s.suite)}"
        notes.append((s.suite, tables.SCORE_UNITS.get(g["score"], g["score"])))
    agents = list(dict.fromkeys(agents))
    rows = [{"agent": a, **{c: v.get(a, "not run") for c, v in cols.items()}} for a in agents]
    df = pd.DataFrame(rows, columns=["agent", *cols])
    if len(df):  # best first: by the number of suites led, then by the mean of the cells it has
        lead = {a: 0 for a in agents}
        for c in cols:
            for i in tables.best_rows(df, c, "min" if metric == "optimality-gap" else "max"):
                lead[df.iloc[i]["agent"]] += 1
        mean = {a: pd.Series([tables.leading_number(df.loc[df["agent"] == a, c].iloc[0]) for c in cols]).mean()
                for a in agents}
        df = df.sort_values("agent", key=lambda x: [(-lead[a], -(mean[a] if mean[a] == mean[a] else -1e9)) for a in x])
    units = {u for _, u in notes}
    text = ([f"{units.pop()} for every suite"] if len(units) == 1 else [f"{suite}: {u}" for suite, u in notes])
    return df.reset_index(drop=True), links, text


def _kv_table(d: dict) -> str:
    rows = []
    for k, v in d.items():
        if isinstance(v, (dict, list)):
            v = json.dumps(v, default=str, separators=(", ", ": "))
        rows.append(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>")
    return '<table class="kv"><tbody>' + "".join(rows) + "</tbody></table>"


def manifest_html(agent: str, m: dict, anchor: str) -> str:
    """A manifest as readable tables: the entry's budget and seeds, then one table per run."""
    out = [f'<h4 id="{_e(anchor)}">{_e(agent)}</h4>',
           _kv_table({"training budget": m.get("training budget"), "seeds": m.get("seeds")})]
    for r in m.get("runs", []):
        out.append(f'<details class="inner"><summary>run {_e(r.get("run_id"))} (seed {_e(r.get("seed"))})</summary>'
                   + _kv_table(r) + "</details>")
    return "\n".join(out)


def _per_task_table(s) -> str:
    pt = s.per_task
    if pt is None or pt.empty:
        return ""
    agents = list(dict.fromkeys(pt["agent"]))
    tasks = list(dict.fromkeys(pt["task"]))
    pct = s.per_task_label.startswith("success %")
    rows = []
    for t in tasks:
        row = {"task": t}
        for a in agents:
            d = pt[(pt["agent"] == a) & (pt["task"] == t)]
            row[a] = tables.interval(*d.iloc[0][["estimate", "lower", "upper", "seeds"]], pct=pct) if len(d) else "not run"
        rows.append(row)
    df = pd.DataFrame(rows)
    cap = f"{s.per_task_label}; mean [95% CI over seeds] per task; best per task in bold"
    head = ["task", *agents]
    bold = {i: tables.best_rows(pd.DataFrame({"v": [r[a] for a in agents]}), "v", "max") for i, r in enumerate(rows)}
    out = ['<div class="tablewrap"><table class="sortable filterable">', f'<caption class="muted">{_e(cap)}</caption>',
           "<thead><tr>"]
    out += [f'<th scope="col"><button type="button" title="sort by {_e(h)}">{_e(h)}</button></th>' for h in head]
    out.append("</tr></thead><tbody>")
    for i, r in enumerate(rows):
        out.append("<tr>" + _cell(r["task"]) + "".join(_cell(r[a], j in bold[i]) for j, a in enumerate(agents))
                   + "</tr>")
    out.append("</tbody></table></div>")
    return (f"<details><summary>Per-task results ({len(tasks)} tasks x {len(agents)} agents)</summary>"
            + "\n".join(out) + "</details>")


def _figure(f) -> str:
    png, svg = f"{f.path}.png", f"{f.path}.svg"
    return (f'<figure><a href="{_e(svg)}"><img src="{_e(png)}" alt="{_e(f.caption)}" loading="eager"></a>'
            f'<figcaption>{_e(f.caption)} (<a href="{_e(svg)}">SVG</a>)</figcaption></figure>')


def suite_html(s, metric: str) -> str:
    sid = f"suite-{_slug(s.suite)}"
    body = [f'<section class="suite" id="{sid}" aria-labelledby="{sid}-h"><h2 id="{sid}-h">{_e(s.suite)}</h2>',
            f'<p class="muted">{_e(s.description)}</p>']
    if len(s.groups) > 1:
        body.append(f'<p class="muted">{len(s.groups)} groups of results differ in split, backend, evaluation size, '
                    "task subset or trial protocol: each is ranked on its own, never together.</p>")
    manifests = {}
    for gi, g in enumerate(s.groups):
        df = pd.DataFrame(g["rows"])
        anchors = {a: f"{sid}-m{gi}-{_slug(a)}" for a in df["agent"]}
        manifests.update({anchors[a]: (a, g["manifests"].get(a, {})) for a in df["agent"]})
        body.append(f"<h3>Leaderboard{'' if g.get('main') else ' (a separate group)'}: {_e(g.get('split', ''))} split</h3>")
        body.append(table_html(df, g["title"], note=f"Ranked by {tables.METRIC_NAMES.get(metric, metric)}; 95% "
                               "stratified-bootstrap CIs over seeds (n/a with 1 seed); best in bold; an agent's name "
                               "opens its manifest.", rank=True, best=tables.best_columns(df),
                               agent_links={a: f"#{anchors[a]}" for a in df["agent"]}))
    main_figs = [f for f in s.figures if f.kind in MAIN_FIGURES][:2]
    if main_figs:
        body.append('<div class="figs">' + "".join(_figure(f) for f in main_figs) + "</div>")
    body.append(_per_task_table(s))
    if s.comparison is not None and len(s.comparison):
        cells = tables.comparison_cells(s.comparison)
        hit = tables.has_reported(cells)
        short = cells[hit].drop(columns=["seeds x trials"])
        body.append(f"<details><summary>Measured beside reported ({int(hit.sum())} rows with a reported number)"
                    "</summary>")
        if len(short):
            body.append(table_html(short, "measured: this database (mean [95% CI]); reported: the papers, one column "
                                   "per budget they state ([T] text, [D] read off a figure)", cls="compare"))
        else:
            body.append('<p class="muted">The papers report no number for these agents and quantities.</p>')
        body.append(f'<details class="inner"><summary>every row ({len(cells)}, measured quantities without a '
                    "reported number included)</summary>"
                    + table_html(cells, "all measured and reported quantities", cls="compare-all") + "</details>")
        body.append("</details>")
    if manifests:
        body.append("<details><summary>Manifests (agent config, suite hash, versions, git commit, seeds)</summary>"
                    + "".join(manifest_html(a, m, k) for k, (a, m) in manifests.items()) + "</details>")
    rest = [f for f in s.figures if f not in main_figs]
    if rest:
        body.append(f"<details><summary>More figures ({len(rest)})</summary><div class=\"figs\">"
                    + "".join(_figure(f) for f in rest) + "</div></details>")
    if s.notes:
        body.append("<details><summary>Notes</summary><ul>" + "".join(f"<li>{_e(n)}</li>" for n in s.notes)
                    + "</ul></details>")
    body.append("</section>")
    return "\n".join(body)


SUBMIT = """<section id="submit" aria-labelledby="submit-h"><h2 id="submit-h">Score your own agent</h2>
<p>Write an agent (a class following the agent protocol: the README's "Scoring your own agent"), evaluate it on a
suite into a results database, then build this page from that database:</p>
<pre><code>amago-bench evaluate --suite {suite} --agent my_package.my_module:MyAgent --seeds 0 1 2 --db results/mine.db
amago-bench report --db results/mine.db --out reports/mine</code></pre>
<p class="muted">Evaluate the baselines into the same database (for example <code>--agent random</code>) to rank
against them; use at least {min_seeds} seeds for intervals that mean something. Only results of the same suite
version, split, backend and evaluation size are ranked together.</p></section>"""


def page_html(sections: Sequence, provenance: str, metric: str = "iqm", info: dict | None = None) -> str:
    """The whole page as a string. ``sections``: ``writer.Section`` objects; ``info``: the
    report's run information (version, commit, dirty flag, UTC time) for the header."""
    info = info or {}
    nav = ['<a href="#overview">Overview</a>'] + [f'<a href="#suite-{_slug(s.suite)}">{_e(s.suite)}</a>'
                                                  for s in sections] + ['<a href="#submit">Score your own agent</a>']
    reasons = pipeline_reasons(sections)
    banner = ""
    if reasons:
        banner = ('<div class="banner" id="pipeline-banner" role="note"><strong>Pipeline check, not a leaderboard'
                  "</strong>These results come from a smoke budget or fewer than "
                  f"{MIN_SEEDS} training seeds: they show the pipeline runs end to end, not which agent is better. "
                  "Ranks and intervals here are not evidence.<ul>" + "".join(f"<li>{_e(r)}</li>" for r in
                                                                           _grouped(reasons)) + "</ul></div>")
    ov, links, ov_notes = overview_frame(sections, metric)
    way = "min" if metric == "optimality-gap" else "max"
    name = tables.METRIC_NAMES.get(metric, metric)
    overview = table_html(ov, f"{name} [95% CI] per agent and suite", note=f"{name} of each suite's main group (test "
                          "split first) with its 95% stratified-bootstrap CI over seeds (n/a with 1 seed); best per "
                          "suite in bold; a cell links to its suite. Scores: " + "; ".join(ov_notes) + ".",
                          best={c: way for c in ov.columns if c != "agent"}, links=links, cls="main overview")
    dirty = " (dirty tree)" if info.get("git_dirty") else ""
    stamp = (f"amago-bench {info.get('amago_bench_version', '?')} &middot; git {_e(str(info.get('git_commit'))[:10])}"
             f"{dirty} &middot; built {_e(info.get('utc', '?'))} &middot; database {_e(info.get('db', '?'))}")
    first = sections[0].suite if sections else "popgym27"
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
<p class="prov">{stamp}</p>
<nav aria-label="sections">{" ".join(nav)}</nav>
</header>
<main>
{banner}
<div class="tools" role="search"><label for="filter">Filter rows</label>
<input id="filter" type="search" placeholder="agent, task or any text" autocomplete="off">
<span id="filter-count" class="muted" aria-live="polite"></span></div>
<section id="overview" aria-labelledby="overview-h"><h2 id="overview-h">Overview</h2>
{overview}
<details><summary>How these numbers were made</summary><p class="prov">{_e(provenance)}</p></details>
</section>
{chr(10).join(suite_html(s, metric) for s in sections)}
{SUBMIT.format(suite=_e(first), min_seeds=MIN_SEEDS)}
</main>
<script>{JS}</script>
</body>
</html>
"""


def write_page(path: Path, sections: Sequence, provenance: str, metric: str = "iqm", info: dict | None = None) -> str:
    """Write :func:`page_html` to ``path``; returns the path."""
    Path(path).write_text(page_html(sections, provenance, metric, info), encoding="utf-8")
    return str(path)
