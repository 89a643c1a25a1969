"""Tables: measured beside reported, and the aggregate leaderboard, as tidy frames rendered to
Markdown, CSV and LaTeX (booktabs).

A measured cell states its seeds and trials and the training budget behind it; a reported
cell its budget, tag ([T] text / [D] read off a figure) and source. A cell with no data says
so ("no data", "not reported"), never 0. Numbers become strings only here.
"""

from __future__ import annotations

import math
from typing import Mapping

import pandas as pd

from amago_bench.report.paper import format_steps

NO_DATA = "no data"
NOT_REPORTED = "not reported"

COMPARISON_COLUMNS = ["agent", "paper_agent", "split", "task", "metric", "attempt", "measured", "measured_lower",
                      "measured_upper", "measured_budget", "seeds", "trials", "reported", "reported_qualifier",
                      "reported_budget", "tag", "source"]
METRIC_NAMES = {"iqm": "IQM", "mean": "mean", "median": "median", "optimality-gap": "optimality gap"}


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


def comparison_cells(df: pd.DataFrame) -> pd.DataFrame:
    """The comparison as the strings a reader sees: one column per labelled cell."""
    out = []
    for r in df.itertuples(index=False):
        has_m = not (isinstance(r.measured, float) and math.isnan(r.measured))
        has_r = not (isinstance(r.reported, float) and math.isnan(r.reported))
        out.append({
            "agent": r.agent or "-", "paper's name": r.paper_agent or "-", "split": r.split,
            "task": r.task or "all tasks", "quantity": r.metric + (f" (attempt {r.attempt})" if r.attempt else ""),
            "measured [95% CI]": f"{fmt(r.measured)} [{fmt(r.measured_lower)}, {fmt(r.measured_upper)}]" if has_m else NO_DATA,
            "measured: seeds x trials": f"{r.seeds} seeds, {r.trials} trials" if has_m else "",
            "measured: training budget": r.measured_budget if has_m else "",
            "reported": f"{r.reported_qualifier}{fmt(r.reported)} [{r.tag}]" if has_r else NOT_REPORTED,
            "reported: budget": r.reported_budget if has_r else "",
            "reported: source": r.source if has_r else "",
        })
    return pd.DataFrame(out)


def comparison_csv(df: pd.DataFrame) -> pd.DataFrame:
    """The tidy comparison for CSV: numbers stay numbers; an absent cell says "no data" /
    "not reported" instead of being empty or 0."""
    out = df.copy().astype(object)
    miss_m = df["measured"].isna()
    out.loc[miss_m, "measured"] = NO_DATA
    out.loc[miss_m, ["measured_lower", "measured_upper", "seeds", "trials"]] = ""
    out.loc[df["reported"].isna(), "reported"] = NOT_REPORTED
    return out


def aggregate_cells(board: pd.DataFrame, budgets: Mapping[str, str] | None = None) -> pd.DataFrame:
    """``measure.aggregates`` of one group as one row per agent: each metric's estimate and
    95% CI, seeds, trials, training budget. Rows in IQM rank order."""
    budgets = dict(budgets or {})
    order = list(board.loc[board["metric"] == "iqm"].sort_values("rank")["agent"])
    rows = []
    for agent in order:
        b = board[board["agent"] == agent].set_index("metric")
        row = {"agent": agent}
        for metric, name in METRIC_NAMES.items():
            if metric in b.index:
                r = b.loc[metric]
                row[f"{name} [95% CI]"] = f"{fmt(r['estimate'])} [{fmt(r['lower'])}, {fmt(r['upper'])}]"
        first = b.iloc[0]
        row["seeds"] = int(first["seeds"])
        row["trials"] = int(first["trials"])
        row["training budget"] = budgets.get(agent, "not recorded")
        rows.append(row)
    return pd.DataFrame(rows)


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


def to_latex(df: pd.DataFrame, caption: str, label: str) -> str:
    """A booktabs table (needs ``\\usepackage{booktabs}``) of the string cells of ``df``."""
    cols = list(df.columns)
    lines = [r"\begin{table}[t]", r"\centering", r"\small", r"\begin{tabular}{" + "l" * len(cols) + "}", r"\toprule",
             " & ".join(tex_escape(c) for c in cols) + r" \\", r"\midrule"]
    for r in df.itertuples(index=False):
        lines.append(" & ".join(tex_escape(v) for v in r) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", rf"\caption{{{tex_escape(caption)}}}", rf"\label{{{label}}}",
              r"\end{table}"]
    return "\n".join(lines) + "\n"
