"""Tables: measured beside reported, and the aggregate leaderboard, as tidy frames rendered to
Markdown, CSV and LaTeX (booktabs; longtable when long; the best value of a column in bold).

Reported numbers follow one style everywhere: ``estimate [lower, upper]`` for a 95% interval,
``estimate [n/a (1 seed)]`` where there is no interval (fewer than 2 seeds), a ``%`` sign on
percentages, the unit of every quantity in its header or its "quantity" cell.

A measured cell states its seeds and trials and the training budget behind it; a reported
cell its budget, tag ([T] text / [D] read off a figure) and source. A cell with no data says
so ("no data", "not reported"), never 0. Numbers become strings only here.
"""

from __future__ import annotations

import math
import re
from typing import Mapping

import pandas as pd

from amago_bench.report.paper import format_steps

NO_DATA = "no data"
NOT_REPORTED = "not reported"

COMPARISON_COLUMNS = ["agent", "paper_agent", "split", "task", "metric", "attempt", "measured", "measured_lower",
                      "measured_upper", "measured_budget", "seeds", "trials", "reported", "reported_qualifier",
                      "reported_budget", "tag", "source"]
METRIC_NAMES = {"iqm": "IQM", "mean": "mean", "median": "median", "optimality-gap": "optimality gap"}


#: Each reported quantity in words with its unit (fraction or %), as a table's "quantity" cell says it.
METRIC_UNITS = {
    "coverage": "coverage (tasks at >= 2/3 success)", "success_pct": "success (%)", "return": "return (game units)",
    "normalised": "normalised score (fraction)", "normalised_pct": "normalised score (%)",
    "return_mean": "mean return over tasks (game units)", "return_median": "median return over tasks (game units)",
    "return_q25": "25th pct return over tasks (game units)", "return_q75": "75th pct return over tasks (game units)",
}
#: The unit of each leaderboard score, as its headers say it.
SCORE_UNITS = {"normalised": "normalised fraction", "success": "success fraction", "score": "game units"}
NO_CI = "n/a (1 seed)"


def interval(est, lower, upper, seeds=None, pct: bool = False) -> str:
    """``0.512 [0.430, 0.600]``; ``0.512 [n/a (1 seed)]`` where fewer than 2 seeds give no
    interval; ``51.2% [43.0, 60.0]`` for a percentage."""
    if est is None or (isinstance(est, float) and math.isnan(est)):
        return NO_DATA
    unit = "%" if pct else ""
    if seeds is not None and not (isinstance(seeds, float) and math.isnan(seeds)) and int(seeds) < 2:
        return f"{fmt(est)}{unit} [{NO_CI}]"
    return f"{fmt(est)}{unit} [{fmt(lower)}, {fmt(upper)}]"


def fmt(x) -> str:
    """A number as a table shows it: 3 decimals below 10, 1 below 100, none above."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    x = float(x)
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.3f}"


def comparison(measured: pd.DataFrame, reported: pd.DataFrame,
               budgets: Mapping[str, str] | None = None, steps: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Measured and reported numbers of one suite side by side.

    ``measured``: ``measure.quantities`` rows (agent, split, task, metric, attempt, estimate,
    lower, upper, seeds, trials), possibly of several splits; ``reported``: the suite's rows
    of ``paper.load_reported``; ``budgets``: agent -> text of its training budget. Rows match
    on (our agent, split, task, metric, attempt); a reported number at several budgets gives
    one row per budget, unless ``steps`` (agent -> env steps of its checkpoint) is known: then only
    the reported budget nearest to it (a 50M-step checkpoint beside the 50M number, the final one
    beside 100M). Returns COMPARISON_COLUMNS, measured/reported NaN where absent (the
    renderers write "no data" / "not reported").
    """
    budgets = dict(budgets or {})
    rows = []
    used: set[int] = set()
    rep = reported.reset_index(drop=True)

    def key_of(agent, split, task, metric, attempt):
        # an entry label names its agent config first: "amago2", "amago2 [abc]", "amago2 (amago2-paper, 50M steps)"
        return (str(agent).split(" [")[0].split(" (")[0], split, task or "", metric, str(attempt or ""))

    rep_keys = [key_of(r.our_agent or f"\0{r.agent}", r.split, r.task, r.metric, r.attempt)
                for r in rep.itertuples(index=False)]
    for m in measured.itertuples(index=False):
        k = key_of(m.agent, m.split, m.task, m.metric, m.attempt)
        matches = [i for i, rk in enumerate(rep_keys) if rk == k]
        at = (steps or {}).get(m.agent)
        budgeted = [i for i in matches if pd.notna(rep.iloc[i]["env_steps"])]
        if at is not None and len({rep.iloc[i]["env_steps"] for i in budgeted}) > 1:
            near = min(abs(math.log(rep.iloc[i]["env_steps"] / at)) for i in budgeted)
            matches = [i for i in matches if i not in budgeted or abs(math.log(rep.iloc[i]["env_steps"] / at)) == near]
        base = {"agent": m.agent, "split": m.split, "task": m.task, "metric": m.metric, "attempt": m.attempt,
                "measured": m.estimate, "measured_lower": m.lower, "measured_upper": m.upper,
                "measured_budget": budgets.get(m.agent, "not recorded"), "seeds": m.seeds, "trials": m.trials}
        if not matches:
            rows.append({**base, "paper_agent": "", "reported": math.nan, "reported_qualifier": "",
                         "reported_budget": "", "tag": "", "source": ""})
        for i in matches:
            used.add(i)
            r = rep.iloc[i]
            rows.append({**base, "paper_agent": r["agent"], "reported": r["value"], "reported_qualifier": r["qualifier"],
                         "reported_budget": format_steps(r["env_steps"]), "tag": r["tag"], "source": r["source"]})
    for i, r in rep.iterrows():
        if i in used:
            continue
        rows.append({"agent": r["our_agent"] or "", "paper_agent": r["agent"], "split": r["split"], "task": r["task"],
                     "metric": r["metric"], "attempt": r["attempt"], "measured": math.nan, "measured_lower": math.nan,
                     "measured_upper": math.nan, "measured_budget": "", "seeds": 0, "trials": 0,
                     "reported": r["value"], "reported_qualifier": r["qualifier"],
                     "reported_budget": format_steps(r["env_steps"]), "tag": r["tag"], "source": r["source"]})
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


def _steps_key(budget: str) -> tuple:
    """Sort key of a reported-budget text: by step count ("50M steps" < "100M steps"), unstated last."""
    import re

    m = re.match(r"([\d.]+)\s*([kMB]?)", budget or "")
    if not m:
        return (1, 0.0, budget)
    return (0, float(m.group(1)) * {"": 1, "k": 1e3, "M": 1e6, "B": 1e9}[m.group(2)], budget)


def comparison_cells(df: pd.DataFrame) -> pd.DataFrame:
    """The comparison as the strings a reader sees: one row per measured quantity (or per
    reported number nobody measured), one "reported, <budget>" column per budget the papers
    state, so a measured value is never repeated beside several budgets. Units: the
    "quantity" cell names its unit, percentages carry a % sign."""
    budgets = sorted({r.reported_budget for r in df.itertuples(index=False)
                      if not (isinstance(r.reported, float) and math.isnan(r.reported))}, key=_steps_key)
    rep_cols = [f"reported, {b}" for b in budgets]
    rows: dict[tuple, dict] = {}
    for r in df.itertuples(index=False):
        has_m = not (isinstance(r.measured, float) and math.isnan(r.measured))
        has_r = not (isinstance(r.reported, float) and math.isnan(r.reported))
        pct = r.metric.endswith("_pct")
        key = (r.agent, r.paper_agent if not has_m else "", r.split, r.task, r.metric, r.attempt,
               r.measured if has_m else id(r))
        row = rows.get(key)
        if row is None:
            row = rows[key] = {
                "agent": r.agent or "-", "paper's name": set(), "split": r.split, "task": r.task or "all tasks",
                "quantity": METRIC_UNITS.get(r.metric, r.metric) + (f", attempt {r.attempt}" if r.attempt else ""),
                "measured [95% CI]": interval(r.measured, r.measured_lower, r.measured_upper, r.seeds, pct)
                if has_m else NO_DATA,
                "seeds x trials": f"{r.seeds} x {r.trials}" if has_m else "",
                "training budget": r.measured_budget if has_m else "",
                **{c: NOT_REPORTED for c in rep_cols}, "source": set()}
        if has_r:
            row["paper's name"].add(r.paper_agent)
            row[f"reported, {r.reported_budget}"] = (f"{r.reported_qualifier}{fmt(r.reported)}{'%' if pct else ''} "
                                                      f"[{r.tag}]")
            row["source"].add(r.source)
    out = []
    for row in rows.values():
        row["paper's name"] = ", ".join(sorted(row["paper's name"])) or "-"
        row["source"] = "; ".join(sorted(row["source"]))
        out.append(row)
    cols = ["agent", "paper's name", "split", "task", "quantity", "measured [95% CI]", "seeds x trials",
            "training budget", *rep_cols, "source"]
    return pd.DataFrame(out, columns=cols)


def comparison_for_tex(cells: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """:func:`comparison_cells` narrowed to fit a page: a column with one value throughout and
    each agent's seeds x trials and training budget move into the caption text (returned)."""
    df = cells.copy()
    notes = []
    for c in ("split", "paper's name"):
        vals = set(df[c])
        if len(vals) == 1:
            notes.append(f"{c}: {vals.pop()}")
            df = df.drop(columns=c)
    per_agent = df[df["seeds x trials"] != ""].drop_duplicates(["agent", "seeds x trials", "training budget"])
    if len(per_agent):
        notes.append("measured with (seeds x trials, training budget): " + "; ".join(
            f"{r['agent']} {r['seeds x trials']}, {r['training budget']}" for _, r in per_agent.iterrows()))
    return df.drop(columns=["seeds x trials", "training budget"]), ". ".join(notes)


def has_reported(cells: pd.DataFrame) -> pd.Series:
    """Rows of :func:`comparison_cells` with at least one reported number."""
    rep = [c for c in cells.columns if c.startswith("reported, ")]
    if not rep:
        return pd.Series(False, index=cells.index)
    return (cells[rep] != NOT_REPORTED).any(axis=1)


def comparison_csv(df: pd.DataFrame) -> pd.DataFrame:
    """The tidy comparison for CSV: numbers stay numbers; an absent cell says "no data" /
    "not reported" instead of being empty or 0."""
    out = df.copy().astype(object)
    miss_m = df["measured"].isna()
    out.loc[miss_m, "measured"] = NO_DATA
    out.loc[miss_m, ["measured_lower", "measured_upper", "seeds", "trials"]] = ""
    out.loc[df["reported"].isna(), "reported"] = NOT_REPORTED
    return out


def aggregate_cells(board: pd.DataFrame, budgets: Mapping[str, str] | None = None,
                    score: str = "normalised") -> pd.DataFrame:
    """``measure.aggregates`` of one group as one row per agent: each metric's estimate and
    95% CI (``n/a (1 seed)`` with one seed), seeds, trials, training budget; headers carry the
    score's unit. Rows in IQM rank order."""
    budgets = dict(budgets or {})
    unit = SCORE_UNITS.get(score, score)
    order = list(board.loc[board["metric"] == "iqm"].sort_values("rank")["agent"])
    rows = []
    for agent in order:
        b = board[board["agent"] == agent].set_index("metric")
        row = {"agent": agent}
        for metric, name in METRIC_NAMES.items():
            if metric in b.index:
                r = b.loc[metric]
                row[metric_header(metric, unit)] = interval(r["estimate"], r["lower"], r["upper"], r["seeds"])
        first = b.iloc[0]
        row["seeds"] = int(first["seeds"])
        row["trials"] = int(first["trials"])
        row["training budget"] = budgets.get(agent, "not recorded")
        rows.append(row)
    return pd.DataFrame(rows)


def metric_header(metric: str, unit: str) -> str:
    """``IQM, normalised fraction [95% CI]``: a leaderboard column's header."""
    return f"{METRIC_NAMES.get(metric, metric)}, {unit} [95% CI]"


#: Which way is better, per aggregate metric (the optimality gap is a shortfall).
BETTER = {"iqm": "max", "mean": "max", "median": "max", "optimality-gap": "min"}


def best_columns(cells: pd.DataFrame) -> dict[str, str]:
    """Column -> "max"/"min" for the metric columns of :func:`aggregate_cells`."""
    out = {}
    for metric, way in BETTER.items():
        for c in cells.columns:
            if c.startswith(METRIC_NAMES[metric] + ",") or c.startswith(METRIC_NAMES[metric] + " ("):
                out[c] = way
    return out


def leading_number(text) -> float:
    """The number a cell starts with (``"0.51 [0.4, 0.6]"`` -> 0.51; ``"~12.5%"`` -> 12.5), NaN if none."""
    import re

    m = re.match(r"^\s*(?:~|<=)?\s*(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)", str(text))
    return float(m.group(1)) if m else math.nan


def best_rows(cells: pd.DataFrame, col: str, way: str) -> set[int]:
    """Positions of the rows holding the best leading number of ``col`` (ties all count)."""
    vals = [leading_number(v) for v in cells[col]]
    finite = [v for v in vals if not math.isnan(v)]
    if len(finite) < 2:
        return set()
    target = max(finite) if way == "max" else min(finite)
    return {i for i, v in enumerate(vals) if v == target}


def to_markdown(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for r in df.itertuples(index=False):
        lines.append("| " + " | ".join(str(v).replace("|", "\\|") for v in r) + " |")
    return "\n".join(lines) + "\n"


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
        "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}"}


def tex_escape(s: str) -> str:
    return "".join(_TEX.get(c, c) for c in str(s)).replace("<=", r"$\leq$")


#: Text width the LaTeX tables are laid out for (NeurIPS/ICML single column: 5.5 in = 397 pt).
TEX_WIDTH_PT = 397.0
#: Rows above which a table becomes a longtable (breaks across pages).
LONG_ROWS = 30
TEX_PREAMBLE = r"\usepackage{booktabs,longtable,array}"


def _tex_columns(df: pd.DataFrame, char_pt: float, avail: float) -> list[str]:
    """Column specs that fit ``avail`` points: short columns ``l``, the widest become
    ragged-right paragraphs of one common width (never narrower than their longest word)."""
    sep = 6.0  # 2 x tabcolsep of 3pt
    texts = [[str(df.columns[i])] + [str(v) for v in df.iloc[:, i]] for i in range(df.shape[1])]
    natural = [max(len(t) for t in col) * char_pt + sep for col in texts]
    word = [max(len(w) for t in col for w in (re.split(r"[\s-]+", t) or [""])) * char_pt + sep for col in texts]
    if sum(natural) <= avail:
        return ["l"] * len(natural)

    def width(cap: float) -> float:
        return sum(max(m, min(w, cap)) for w, m in zip(natural, word))

    lo, hi = 0.0, max(natural)
    for _ in range(40):  # the widest cap that fits
        cap = (lo + hi) / 2
        lo, hi = (cap, hi) if width(cap) <= avail else (lo, cap)
    return ["l" if w <= lo else rf">{{\raggedright\arraybackslash\hspace{{0pt}}}}p{{{max(lo, m) - sep:.0f}pt}}"
            for w, m in zip(natural, word)]


def to_latex(df: pd.DataFrame, caption: str, label: str, best: Mapping[str, str] | None = None) -> str:
    """A booktabs table of the string cells of ``df``, laid out to fit TEX_WIDTH_PT in
    ``\\footnotesize`` (long cells wrap); a ``longtable`` above LONG_ROWS rows. ``best``:
    column -> "max"/"min": that column's best leading number is set in bold.
    Needs ``\\usepackage{booktabs,longtable,array}`` (the first line says so)."""
    cols = list(df.columns)
    bold = {c: best_rows(df, c, way) for c, way in (best or {}).items() if c in cols}
    spec = "".join(_tex_columns(df, 4.9, 0.97 * TEX_WIDTH_PT))
    head = " & ".join(tex_escape(c) for c in cols) + r" \\"
    body = []
    for i, r in enumerate(df.itertuples(index=False)):
        cells = [rf"\textbf{{{tex_escape(v)}}}" if i in bold.get(c, ()) else tex_escape(v) for c, v in zip(cols, r)]
        body.append(" & ".join(cells) + r" \\")
    note = f"% needs {TEX_PREAMBLE}; generated by amago-bench report"
    if len(df) > LONG_ROWS:
        return "\n".join([note, r"{\footnotesize\setlength{\tabcolsep}{3pt}", rf"\begin{{longtable}}{{{spec}}}",
                          rf"\caption{{{tex_escape(caption)}}}\label{{{label}}}\\", r"\toprule", head, r"\midrule",
                          r"\endfirsthead", r"\toprule", head, r"\midrule", r"\endhead",
                          r"\midrule \multicolumn{" + str(len(cols)) + r"}{r}{\emph{continued}}\\", r"\endfoot",
                          r"\bottomrule", r"\endlastfoot", *body, r"\end{longtable}", "}"]) + "\n"
    return "\n".join([note, r"\begin{table}[t]", r"\centering", r"\footnotesize", r"\setlength{\tabcolsep}{3pt}",
                      rf"\caption{{{tex_escape(caption)}}}", rf"\label{{{label}}}", rf"\begin{{tabular}}{{{spec}}}",
                      r"\toprule", head, r"\midrule", *body, r"\bottomrule", r"\end{tabular}", r"\end{table}"]) + "\n"
