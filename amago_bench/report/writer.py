"""The whole report: from a results database to tables, figures and the leaderboard page.

``write_report(ReportConfig(...))`` is the library entry point; ``amago-bench report`` only
parses flags into a :class:`ReportConfig` and calls it. Layout of ``out``::

    index.html                 the leaderboard page (every suite, self-contained)
    README.md                  what was written, from which database, and the notes
    run.json                   provenance: command, package version, git commit and dirty flag, UTC time
    <suite>/leaderboard.*      aggregate metrics with 95% CIs, one section per comparable group
    <suite>/comparison.*       measured beside the papers' reported numbers
    <suite>/*.png|svg          figures (each with the provenance footer), named by FIGURE_KINDS: a kind that
                               reproduces a paper's figure starts with that figure's reported-numbers
                               file, e.g. popgym27/amago2-popgym27_score_vs_steps.png
"""

from __future__ import annotations

import datetime as dt
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from amago_bench import scoring
from amago_bench.errors import UserError
from amago_bench.report import build, figures, measure, tables
from amago_bench.report.paper import format_steps, load_reported
from amago_bench.resources import repo_root
from amago_bench.suite import SuiteSpec, get_suite, list_suites

FORMATS: tuple[str, ...] = ("md", "csv", "tex", "html", "png", "svg")
#: Quantity plotted per task, its axis label, and whether 0/1 reference lines make sense, per family.
TASK_FIGURE = {
    "metaworld": ("success_pct", "success % (mean over trials)", False),
    "procgen": ("return", "2-attempt return (game units)", False),
    "atari": ("normalised", "human-normalised score", True),
    "babyai": ("return", "2-episode return", False),
}
CURVES = {"metaworld": [("coverage", "tasks with success >= 2/3 (coverage)"), ("success_pct", "average success %")],
          "popgym": [("normalised_pct", "normalised score %")]}

#: The papers' figures that a kind of report figure reproduces (the same quantity drawn the same way,
#: the paper's numbers as hollow diamonds where the suite has them), keyed by the file of reported
#: numbers they are read from (results/paper/<key>.csv) -> how a title names the figure. A figure
#: number is given only where the paper states it (its compute note: "Procgen Memory-Hard (Figure 8)").
PAPER_FIGURES: dict[str, str] = {
    "amago2-ml45": "AMAGO-2's Meta-World ML45 figure",
    "amago2-popgym27": "AMAGO-2's multi-task POPGym figure",
    "amago2-procgen-easy5": "AMAGO-2's Procgen easy-5 figure",
    "amago2-procgen-memhard16": "AMAGO-2 Figure 8 (Procgen memory-hard)",
    "amago2-atari10": "AMAGO-2's multi-game Atari figure",
    "amago2-babyai": "AMAGO-2's BabyAI figure",
}


@dataclass(frozen=True)
class FigureKind:
    """How one kind of report figure is named. The one rule: files are ``<paper>_<panel>`` for a
    kind that reproduces a paper's figure (``paper``: a key of PAPER_FIGURES) and ``<panel>``
    otherwise, with ``_<split>`` appended for a kind drawn per evaluation split; titles are
    ``<suite> (<split>): <subject>``, led by the paper figure's name where there is one."""

    panel: str
    """What the figure shows, as a file name."""
    paper: str = ""
    """The paper figure it reproduces (a key of PAPER_FIGURES); empty: none."""
    per_split: bool = True
    """Drawn once per evaluation split (else once per suite, from the training runs)."""

    def stem(self, split: str = "") -> str:
        name = f"{self.paper}_{self.panel}" if self.paper else self.panel
        return f"{name}_{split}" if self.per_split and split else name

    def title(self, suite: str, subject: str, split: str = "") -> str:
        where = f"{suite} ({split})" if self.per_split and split else suite
        return f"{PAPER_FIGURES[self.paper]} on {where}: {subject}" if self.paper else f"{where}: {subject}"


#: Every kind of figure the report draws, per suite family ("" = any family without its own entry).
FIGURE_KINDS: dict[tuple[str, str], FigureKind] = {
    ("aggregate", ""): FigureKind("aggregate"),
    ("task_scores", ""): FigureKind("task_scores"),
    ("task_scores", "atari"): FigureKind("game_scores", "amago2-atari10"),
    ("task_scores", "procgen"): FigureKind("game_returns", "amago2-procgen-easy5"),
    ("attempts", "procgen"): FigureKind("attempts", "amago2-procgen-memhard16"),
    ("success_heatmap", "metaworld"): FigureKind("success_heatmap"),
    ("profiles", ""): FigureKind("profiles"),
    ("improvement", ""): FigureKind("improvement"),
    ("train_vs_heldout", "babyai"): FigureKind("returns_train_vs_heldout", "amago2-babyai", per_split=False),
    ("learning_curve", ""): FigureKind("learning_curve", per_split=False),
    ("curve_coverage", "metaworld"): FigureKind("coverage_vs_steps", "amago2-ml45", per_split=False),
    ("curve_success_pct", "metaworld"): FigureKind("success_vs_steps", "amago2-ml45", per_split=False),
    ("curve_normalised_pct", "popgym"): FigureKind("score_vs_steps", "amago2-popgym27", per_split=False),
}


def figure_kind(kind: str, family: str) -> FigureKind:
    """The naming of figure ``kind`` for a suite of ``family`` (FIGURE_KINDS)."""
    found = FIGURE_KINDS.get((kind, family)) or FIGURE_KINDS.get((kind, ""))
    if found is None:
        raise KeyError(f"no figure kind {kind!r} for family {family!r}; known: "
                       f"{', '.join(sorted({k for k, _ in FIGURE_KINDS}))}")
    return found


@dataclass(frozen=True)
class ReportConfig:
    """What `amago-bench report` writes."""

    db: str
    """Results database to read."""
    out: Path
    """Output folder."""
    suites: tuple[str, ...] = ()
    """Suites to report; empty = every suite that has results in the database."""
    split: str | None = None
    """Only this split's evaluations (None = every split, each on its own)."""
    metric: str = "iqm"
    """Metric the leaderboard ranks by (every metric is still shown)."""
    reps: int = 2000
    """Bootstrap replicates per interval."""
    ci_seed: int = 0
    """Seed every bootstrap Generator is derived from (with its own key)."""
    formats: tuple[str, ...] = FORMATS
    """Which of md, csv, tex, html, png, svg to write."""
    command: str = "amago-bench report"
    """The command line, for the provenance footer."""


@dataclass
class Figure:
    path: str
    """Relative to ``out``, without suffix."""
    caption: str
    kind: str = ""
    """Its kind (the first part of a FIGURE_KINDS key)."""


@dataclass
class Section:
    """One suite's results, as the page and README show them."""

    suite: str
    description: str
    groups: list[dict] = field(default_factory=list)
    """Per comparable group: title, rows (cell dicts), manifests (agent -> JSON-able dict)."""
    comparison: pd.DataFrame | None = None
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    per_task: pd.DataFrame | None = None
    """Per-task measured quantity of the main group (agent, split, task, estimate, lower, upper, seeds)."""
    per_task_label: str = ""
    """What ``per_task`` holds, with its unit."""
    budgets: dict[str, str] = field(default_factory=dict)
    """Entry label -> its training budget in words."""


@dataclass
class ReportResult:
    written: list[str]
    notes: list[str]
    sections: list[Section]


def relative(value):
    """``value`` with every absolute path inside the repository rewritten relative to it
    (strings, and strings nested in dicts and lists); other values unchanged."""
    root = repo_root()
    if root is None:  # an installed package: no checkout to be relative to
        return value
    root = str(root) + "/"
    if isinstance(value, str):
        return value.replace(root, "")
    if isinstance(value, dict):
        return {k: relative(v) for k, v in value.items()}
    if isinstance(value, list):
        return [relative(v) for v in value]
    return value


def run_info(command: str, db: str) -> dict:
    """What produced a report: command, amago-bench version, git commit and dirty flag, UTC time
    (written to ``run.json`` and shown in the page header)."""
    from amago_bench.store import environment_versions, git_state

    commit, dirty = git_state()
    return {"command": relative(command), "amago_bench_version": environment_versions().get("amago-bench"),
            "git_commit": commit, "git_dirty": dirty, "db": relative(str(Path(db).resolve())), "utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}


def _provenance(cfg: ReportConfig, runs: pd.DataFrame) -> str:
    info = run_info(cfg.command, cfg.db)
    seeds = sorted(set(int(s) for s in runs["seed"])) if len(runs) else []
    dirty = " (dirty tree)" if info["git_dirty"] else ""
    return (f"{info['command']} | amago-bench {info['amago_bench_version']} | git {str(info['git_commit'])[:10]}{dirty} "
            f"| db {info['db']} | {runs['run_id'].nunique() if len(runs) else 0} runs, seeds {seeds} | bootstrap: "
            f"per-interval numpy Generator from seed {cfg.ci_seed}, {cfg.reps} reps, 95% CI | "
            f"{info['utc'][:16].replace('T', ' ')} UTC")


def _manifest(runs: pd.DataFrame, run_ids: list[str], budget: str) -> dict:
    rs = runs[runs["run_id"].isin(run_ids)]
    out = []
    for r in rs.to_dict(orient="records"):
        rec = {k: r.get(k) for k in ("run_id", "seed", "suite", "suite_hash", "split", "backend", "trials_per_task",
                                     "trial_protocol", "tasks", "budget", "git_commit", "git_dirty", "started", "ended",
                                     "host")}
        for k in ("agent_config", "versions"):
            try:
                rec[k] = json.loads(r.get(k) or "{}")
            except json.JSONDecodeError:
                rec[k] = r.get(k)
        out.append(relative(rec))
    return {"training budget": budget, "seeds": sorted(int(s) for s in rs["seed"]), "runs": out}


def training_seeds(runs: pd.DataFrame, run_ids: list[str]) -> int | None:
    """How many training runs stand behind an entry's evaluation runs: its distinct checkpoint
    folders (a milestone and the final checkpoint of one run count once); None when untrained.
    Evaluation seeds of one checkpoint are not training seeds."""
    folders = set()
    for c in runs.loc[runs["run_id"].isin(run_ids), "agent_config"]:
        try:
            ck = json.loads(c or "{}").get("checkpoint")
        except (json.JSONDecodeError, AttributeError):
            ck = None
        if ck:
            folders.add(str(ck).replace("\\", "/").rsplit("/", 1)[0])
    return len(folders) or None


def budget_cell(budget: str, n_train: int | None) -> str:
    """An entry's training-budget cell: the budget in words and, for checkpoints trained by
    amago-bench, how many training seeds stand behind it (a checkpoint from elsewhere has no
    known training seeds: its cell says only that)."""
    if not n_train or budget == measure.TRAINED_OUTSIDE:
        return budget
    return f"{budget}, {n_train} training seed{'s' if n_train != 1 else ''}"


def _group_title(group: pd.DataFrame, spec: SuiteSpec) -> str:
    r = group.iloc[0]
    tasks = json.loads(r["tasks"]) if r["tasks"] else None
    tasks_txt = f"all {len(spec.task_names(r['split']))} {r['split']} tasks" if tasks is None else f"tasks {', '.join(tasks)}"
    return (f"split {r['split']} / backend {r['backend']} / {r['trials_per_task']} trials per task per seed / "
            f"{tasks_txt} / trial: {r['trial_protocol'] or '?'} / spec {r['suite_hash']}")


def _reported_for(reported: pd.DataFrame, **eq) -> pd.DataFrame:
    r = reported
    for k, v in eq.items():
        r = r[r[k] == v]
    r = r.copy()
    r["agent"] = [o or a for o, a in zip(r["our_agent"], r["agent"])]
    r["label"] = [f"{a} reported, {format_steps(s)} [{t}]" for a, s, t in zip(r["agent"], r["env_steps"], r["tag"])]
    return r


def _figure(sec: Section, cfg: ReportConfig, spec: SuiteSpec, ax, kind: str, subject: str, prov: str,
            written: list[str], split: str = "") -> None:
    """Save one figure of ``kind`` under the name and title FIGURE_KINDS gives it."""
    fmts = [f for f in ("png", "svg") if f in cfg.formats]
    if not fmts:
        return
    k = figure_kind(kind, spec.family)
    name, title = k.stem(split), k.title(spec.name, subject, split)
    written += figures.save(ax, cfg.out / sec.suite / name, title, prov, formats=fmts)
    sec.figures.append(Figure(f"{sec.suite}/{name}", title, kind))


def report_suite(cfg: ReportConfig, spec: SuiteSpec, episodes: pd.DataFrame, runs: pd.DataFrame,
                 reported: pd.DataFrame, written: list[str]) -> Section | None:
    """Tables and figures of one suite into ``cfg.out/<suite>/``; None when it has no data."""
    sec = Section(spec.name, spec.description)
    current = episodes[episodes["suite_hash"] == spec.spec_hash]
    if len(current) < len(episodes):
        n = episodes.loc[episodes["suite_hash"] != spec.spec_hash, "run_id"].nunique()
        sec.notes.append(f"{n} run(s) recorded under another version of the suite file are left out")
    evals = current[current["kind"] == "evaluate"]
    if cfg.split:
        evals = evals[evals["split"] == cfg.split]
    trains = current[(current["kind"] == "train") & current["env_steps"].notna()]
    if evals.empty and trains.empty:
        return None
    out = cfg.out / spec.name
    out.mkdir(parents=True, exist_ok=True)
    train_steps = {rid: int(g["env_steps"].max()) for rid, g in trains.groupby("run_id")}
    by_config: dict[tuple[str, str], str] = {}  # (agent, pooled config) -> its training budget in words
    for (agent, acfg), _ in evals.groupby(["agent", "agent_config"]):
        by_config[(agent, scoring.pooled_config(acfg))] = measure.training_budget(runs, agent, acfg, spec.name,
                                                                                  train_steps)
    budgets: dict[str, str] = {}  # entry label -> its training budget (filled per leaderboard below)
    budget_steps: dict[str, float] = {}  # entry label -> env steps of its checkpoint, where known
    prov_runs = runs[runs["run_id"].isin(current["run_id"].unique())]
    prov = _provenance(cfg, prov_runs)
    rep = reported[reported["suite"] == spec.name]
    boards, measured, task_means = [], [], []
    for split in sorted(evals["split"].unique(), key=lambda x: (x != "test", x)):  # test first
        gs = measure.groups(evals[evals["split"] == split])
        for gi, group in enumerate(gs):
            score = "normalised"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", scoring.MissingDataWarning)
                for score in ("normalised", "success", "score"):
                    try:
                        board = measure.aggregates(group, spec, cfg.ci_seed, cfg.reps, score=score)
                        break
                    except scoring.ScoringError as exc:
                        board, err = None, exc
            if board is None:
                sec.notes.append(f"{_group_title(group, spec)}: no aggregate ({err})")
                continue
            if score != "normalised":
                sec.notes.append(f"{split}: normalised scores are unavailable, the leaderboard uses the {score}")
            board["split"] = split
            board["group_title"] = _group_title(group, spec)
            board["group_main"] = gi == 0
            boards.append(board)
            for r in board.itertuples():
                at, text = by_config.get((r.agent.split(" (")[0], r.config), (None, "not recorded"))
                budgets[r.agent] = budget_cell(text, training_seeds(runs, str(r.run_ids).split(",")))
                if at is not None:
                    budget_steps[r.agent] = at
            cells = tables.aggregate_cells(board, budgets={a: budgets.get(a.split(" [")[0], "not recorded")
                                                           for a in board["agent"]}, score=score)
            manifests = {}
            for a in cells["agent"]:
                rids = board.loc[board["agent"] == a, "run_ids"].iloc[0].split(",")
                manifests[a] = _manifest(runs, rids, budgets.get(a.split(" [")[0], "not recorded"))
            sec.groups.append({"title": _group_title(group, spec) + ("" if gi == 0 else " (a separate group)"),
                               "score": score, "rows": cells.to_dict(orient="records"), "manifests": manifests,
                               "estimates": board.loc[board["metric"] == cfg.metric].set_index("agent")["estimate"].to_dict(),
                               "split": split, "main": gi == 0,
                               "headline": board.loc[board["metric"] == cfg.metric, ["agent", "rank", "estimate", "lower",
                                                                                     "upper", "seeds"]]
                               .sort_values("rank").to_dict(orient="records")})
            if gi != 0:
                continue
            q = measure.quantities(group, spec, cfg.ci_seed, cfg.reps)
            measured.append(q)
            if sec.per_task is None:
                col, label, _ = TASK_FIGURE.get(spec.family, ("normalised", "normalised score (fraction)", True))
                sec.per_task = q[(q["task"] != "") & (q["metric"] == col) & (q["attempt"] == "")]
                sec.per_task_label = f"{label}, {split} split"
            if spec.family == "babyai":
                task_means.append(measure.task_means(group, spec))
            _suite_figures(sec, cfg, spec, group, split, board, q, rep, prov, written)
    # comparison and aggregate tables
    q_all = pd.concat(measured, ignore_index=True) if measured else pd.DataFrame(columns=measure.QUANTITY_COLUMNS)
    comp = tables.comparison(q_all, rep, budgets={a: budgets.get(a.split(" [")[0], "not recorded")
                                                  for a in q_all["agent"].unique()}, steps=budget_steps)
    sec.comparison = comp
    sec.budgets = dict(budgets)
    _write_tables(sec, cfg, spec, boards, comp, written)
    if task_means:
        tm = pd.concat(task_means, ignore_index=True)
        ax = figures.plot_split_boxes(tm, reported=_reported_for(rep, table="amago2-babyai") if len(rep) else None)
        _figure(sec, cfg, spec, ax, "train_vs_heldout", "per-task mean 2-episode return, training vs held-out tasks",
                prov, written)
    _train_figures(sec, cfg, spec, trains, rep, prov, written)
    return sec


def _suite_figures(sec, cfg, spec, group, split, board, q, rep, prov, written) -> None:
    metric_label = tables.SCORE_UNITS.get(board["score"].iloc[0], board["score"].iloc[0])
    metric_label = "normalised score (fraction)" if board["score"].iloc[0] == "normalised" else metric_label
    iv = board[["metric", "agent", "estimate", "lower", "upper", "seeds"]].copy()
    iv["metric"] = iv["metric"].map(tables.METRIC_NAMES)
    ax = figures.plot_intervals(iv, xlabel=metric_label)
    _figure(sec, cfg, spec, ax, "aggregate", "IQM, mean, median, optimality gap (95% CI)", prov, written, split)
    col, ylabel, unit = TASK_FIGURE.get(spec.family, ("normalised", "normalised score (mean over trials)", True))
    per_task = q[(q["task"] != "") & (q["metric"] == col) & (q["attempt"] == "")]
    if not per_task.empty:
        r = _reported_for(rep, metric=col, split=split, attempt="")
        r = r[r["task"] != ""]
        ax = figures.plot_task_scores(per_task, ylabel=ylabel, reported=r if len(r) else None, unit_lines=unit)
        _figure(sec, cfg, spec, ax, "task_scores", f"per-task {ylabel}, 95% CI", prov, written, split)
        if spec.family == "metaworld":
            hm = per_task.rename(columns={"estimate": "value"})[["agent", "task", "value"]]
            ax = figures.plot_heatmap(hm)
            _figure(sec, cfg, spec, ax, "success_heatmap", "success % per task", prov, written, split)
    att = q[(q["attempt"] != "") & (q["metric"] == "normalised")]
    if not att.empty:
        r = _reported_for(rep, metric="normalised", split=split)
        r = r[r["attempt"].isin(["1", "2"])]
        ax = figures.plot_attempts(att, reported=r if len(r) else None)
        _figure(sec, cfg, spec, ax, "attempts", "normalised score of attempt 1 and attempt 2", prov, written, split)
    score = board["score"].iloc[0]
    mats = measure.matrices(group, spec, score)
    if mats:
        allv = np.concatenate([m.ravel() for m in mats.values()])
        taus = np.linspace(min(0.0, allv.min()), max(1.0, allv.max()), 41)
        prof = measure.profiles(mats, taus, cfg.ci_seed, f"{spec.name}/{split}", reps=min(cfg.reps, 1000))
        ax = figures.plot_profiles(prof, xlabel=f"{metric_label} threshold tau")
        _figure(sec, cfg, spec, ax, "profiles", "performance profiles (95% bands)", prov, written, split)
        order = [a for a in board.loc[board["metric"] == "iqm"].sort_values("rank")["agent"] if a in mats]
        if len(order) >= 2:
            imp = measure.improvement({a: mats[a] for a in order}, cfg.ci_seed, f"{spec.name}/{split}",
                                      reps=min(cfg.reps, 1000))
            ax = figures.plot_improvement(imp)
            _figure(sec, cfg, spec, ax, "improvement", "probability of improvement (95% CI)", prov, written, split)
    if "csv" in cfg.formats:
        q.to_csv(cfg.out / spec.name / f"quantities_{split}.csv", index=False)
        written.append(str(cfg.out / spec.name / f"quantities_{split}.csv"))


def _train_figures(sec, cfg, spec, trains, rep, prov, written) -> None:
    if trains.empty:
        sec.notes.append("no training runs with evaluations: no learning curves")
        return
    curve = build.learning_curve(trains, spec, scoring.ci_rng(cfg.ci_seed, spec.name, "learning curve"),
                                 reps=min(cfg.reps, 1000))
    if "csv" in cfg.formats:
        curve.to_csv(cfg.out / spec.name / "learning_curve.csv", index=False)
        written.append(str(cfg.out / spec.name / "learning_curve.csv"))
    ax = figures.plot_learning_curve(curve)
    _figure(sec, cfg, spec, ax, "learning_curve", "evaluation during training (mean over tasks and trials, 95% CI)",
            prov, written)
    for quantity, ylabel in CURVES.get(spec.family, []):
        c = measure.curve(trains, spec, quantity)
        if c.empty:
            continue
        r = _reported_for(rep, metric=quantity, task="")
        r = r[r["env_steps"].notna()]
        ax = figures.plot_curve_band(c, ylabel=ylabel, reported=r if len(r) else None)
        _figure(sec, cfg, spec, ax, f"curve_{quantity}", f"{ylabel} against env steps (min/max over seeds)", prov,
                written)


def _write_tables(sec, cfg, spec, boards, comp, written) -> None:
    out = cfg.out / spec.name
    if boards:
        allb = pd.concat(boards, ignore_index=True)
        if "csv" in cfg.formats:
            cols = ["split", "group", "group_title", "metric", "score", "rank", "agent", "estimate", "lower", "upper",
                    "seeds", "trials", "tasks", "run_ids"]
            allb[cols].to_csv(out / "leaderboard.csv", index=False)
            written.append(str(out / "leaderboard.csv"))
        md, tex = [f"# {spec.name}: aggregate metrics with 95% CIs\n"], []
        for g in sec.groups:
            df = pd.DataFrame(g["rows"])
            md += [f"\n## {g['title']}\n\nscore: {g['score']}\n\n", tables.to_markdown(df)]
            tex.append(tables.to_latex(df, f"{spec.name}: {g['title']} ({g['score']}; 95% stratified-bootstrap CIs "
                                       f"over seeds, n/a with 1 seed; best in bold)", f"tab:{spec.name}-{len(tex) + 1}",
                                       best=tables.best_columns(df)))
        if "md" in cfg.formats:
            (out / "leaderboard.md").write_text("".join(md))
            written.append(str(out / "leaderboard.md"))
        if "tex" in cfg.formats:
            (out / "leaderboard.tex").write_text("\n".join(tex))
            written.append(str(out / "leaderboard.tex"))
    if comp is not None and len(comp):
        cells = tables.comparison_cells(comp)
        if "csv" in cfg.formats:
            tables.comparison_csv(comp).to_csv(out / "comparison.csv", index=False)
            written.append(str(out / "comparison.csv"))
        if "md" in cfg.formats:
            (out / "comparison.md").write_text(f"# {spec.name}: measured beside reported\n\n"
                                               + tables.to_markdown(cells))
            written.append(str(out / "comparison.md"))
        if "tex" in cfg.formats:
            narrow, note = tables.comparison_for_tex(cells)
            (out / "comparison.tex").write_text(tables.to_latex(
                narrow, f"{spec.name}: measured (this harness; mean [95% CI over seeds]) beside reported (papers; [T] "
                f"text, [D] read off a figure), one column per reported budget. {note}", f"tab:{spec.name}-comparison"))
            written.append(str(out / "comparison.tex"))


def write_report(cfg: ReportConfig) -> ReportResult:
    """Write the report of ``cfg.suites`` (or every suite with data) from ``cfg.db`` into ``cfg.out``."""
    from amago_bench.store import ResultsStore

    bad = [f for f in cfg.formats if f not in FORMATS]
    if bad:
        raise UserError(f"unknown format(s) {', '.join(bad)}; choose from {','.join(FORMATS)}")
    if cfg.ci_seed < 0:
        raise UserError(f"--ci-seed must be >= 0, got {cfg.ci_seed}")
    if cfg.reps < 100:
        raise UserError(f"--reps {cfg.reps} is too few for a 95% interval; use >= 100 (default 2000)")
    scoring.get_metric(cfg.metric)
    specs = [get_suite(s) for s in cfg.suites]  # unknown names fail before anything is written
    if not Path(cfg.db).exists():
        raise UserError(f"results database {cfg.db} does not exist; run `amago-bench evaluate --db {cfg.db} ...` first")
    with ResultsStore(cfg.db, create=False) as store:
        runs = store.runs()
        stored = sorted(runs["suite"].unique())
        if not specs:
            specs = [get_suite(s) for s in stored if s in set(list_suites())]
        episodes = {s.name: store.episodes(suite=s.name) for s in specs}
    if not any(len(e) for e in episodes.values()):  # as `leaderboard` on empty input: nothing is written
        what = ", ".join(s.name for s in specs) if specs else "any suite"
        raise UserError(f"no results for {what} in {cfg.db}; evaluate first (`amago-bench evaluate --suite S "
                        f"--db {cfg.db}`) or pass the --db that holds them")
    reported = load_reported()
    try:
        cfg.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the output folder {cfg.out} ({exc.strerror}); pass --out a writable folder") from None
    written: list[str] = []
    notes: list[str] = []
    sections: list[Section] = []
    for spec in specs:
        sec = report_suite(cfg, spec, episodes[spec.name], runs, reported, written)
        if sec is None:
            notes.append(f"{spec.name}: no results in {cfg.db}, skipped")
            continue
        sections.append(sec)
        notes += [f"{spec.name}: {n}" for n in sec.notes]
    if not sections:
        notes.append("no suite has results: nothing to report")
    if "html" in cfg.formats and sections:
        from amago_bench.report.page import write_page

        written.append(write_page(cfg.out / "index.html", sections, _provenance(cfg, runs[runs["suite"].isin(
            [s.suite for s in sections])]), metric=cfg.metric, info=run_info(cfg.command, cfg.db)))
    lines = [f"# Report\n\nGenerated by `{relative(cfg.command)}` from `{run_info(cfg.command, cfg.db)['db']}`; every measured number is computed from the "
             "episodes stored there, every reported number comes from `results/paper/` (with its source "
             "and [T]/[D] tag).\n\nProvenance: "
             + _provenance(cfg, runs[runs["suite"].isin([s.suite for s in sections])]) + "\n\nFiles:\n"]
    lines += [f"- `{Path(w).relative_to(cfg.out)}`" for w in written] + ["- `run.json`"]
    if notes:
        lines += ["", "Notes:"] + [f"- {n}" for n in notes]
    (cfg.out / "README.md").write_text("\n".join(lines) + "\n")
    written.append(str(cfg.out / "README.md"))
    (cfg.out / "run.json").write_text(json.dumps(run_info(cfg.command, cfg.db), indent=1) + "\n")
    written.append(str(cfg.out / "run.json"))
    return ReportResult(written, notes, sections)
