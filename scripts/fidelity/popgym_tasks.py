"""POPGym tasks side by side with the reference AMAGO (reports/fidelity/, "More POPGym tasks side by
side (issue 20)" and "One-shot side by side (issue 20, item 2)").

    python scripts/fidelity/popgym_tasks.py collect [--study tasks|oneshot] --runs RUNS --reference REF_STATS_DIR
    python scripts/fidelity/popgym_tasks.py plot [--study tasks|oneshot]

``collect`` reads our evaluations from the checkpoints ``RUNS/<suite>/amago2-small-seed<N>/checkpoint.pt``
and the reference's from ``REF_STATS_DIR/<Task>_s<N>.json`` (written by ``reference_popgym.py``; its
returns normalised with our suite's ends) into ``data/<stem>_curves.csv``. ``plot`` writes
``data/<stem>_reach.md`` (per run: env steps and training wall seconds to the first evaluation >= 0.9
and >= 0.95, best, final; a run stopped after two evaluations >= 0.999 in a row ends there) and draws
``<stem>_<Task>.png/.svg`` (with more than 3 implementations on a task: ours and the reference per
seed, and ``<stem>_<Task>_variants`` with every implementation's mean over its seeds). Studies (the
suite of each task, the file stem):
  * tasks: single-episode trials, ``popgym-single-<Task>`` for three more Easy tasks (stem popgym_tasks);
  * oneshot: the popgym27 one-shot protocol (2 episodes, the first unrewarded, the second scored),
    ``popgym-repeat-oneshot`` and ``popgym-cartpole-oneshot`` (stem popgym_oneshot).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
from curves import mean_of_seeds, merge_into, plot_seed_curves

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "reports" / "fidelity"
DATA = OUT / "data"
SUITES = OUT / "suites"
STUDIES = {  # study -> (stem, {task: suite name or path}, what the trials are, the README section)
    "tasks": ("popgym_tasks", {t: f"popgym-single-{t}" for t in
                               ("RepeatFirstEasy", "VelocityOnlyCartpoleEasy", "MultiarmedBanditEasy")},
              "single episode", "More POPGym tasks side by side (issue 20)"),
    "oneshot": ("popgym_oneshot", {"RepeatPreviousEasy": "popgym-repeat-oneshot",
                                   "PositionOnlyCartPoleEasy": "popgym-cartpole-oneshot"},
                "one-shot (2 episodes, the 2nd scored)", "One-shot side by side (issue 20, item 2)"),
}
THRESHOLDS = (0.9, 0.95)
MAX_SEED_LINES_IMPLS = 3  # more implementations on one task: seeds of ours and the reference, and a figure of means
OURS = "ours: amago2 --budget small"
REFERENCE = "reference AMAGO `agent`"
AGENTS = {  # our run folders <agent>-small-seed<N> -> label
    "amago2": OURS,
    "amago2-popgym-exact": "ours, exact E_pi (configs/amago2-popgym-exact.toml)",
    "amago2-popgym-tau003": "ours, tau 0.003 (configs/amago2-popgym-tau003.toml)",
    "amago2-popgym-explore1m": "ours, epsilon annealed over 1M env steps (configs/amago2-popgym-explore1m.toml)",
    "amago2-popgym-gammas18": "ours, the reference's 18 discounts (configs/amago2-popgym-gammas18.toml)",
    "amago2-popgym-gammas5": "ours, 5 discounts (configs/amago2-popgym-gammas5.toml)",
    "amago2-popgym-rm100": "ours, reward multiplier 100 (configs/amago2-popgym-rm100.toml)",
    "amago2-popgym-vr1e3": "ours, bins over symlog(+-1e3) (configs/amago2-popgym-vr1e3.toml)",
    "amago2-popgym-widths": "ours, the reference's encoder and head widths (configs/amago2-popgym-widths.toml)",
    "amago2-popgym-widths-lr3e4": "ours, the reference's widths, lr 3e-4 (configs/amago2-popgym-widths-lr3e4.toml)",
    "amago2-popgym-widths-lr-anneal": "ours, the reference's widths, lr 1e-3 -> 3e-4 (configs/amago2-popgym-widths-lr-anneal.toml)",
    "amago2-popgym-widths-mlplr3e4": "ours, the reference's widths, their MLPs at lr 3e-4 (configs/amago2-popgym-widths-mlplr3e4.toml)",
}


def collect(study: str, runs: Path, reference: Path) -> pd.DataFrame:
    from amago_bench.agents.amago2.learner import read_checkpoint
    from amago_bench.suite import get_suite

    stem, suites, _, _ = STUDIES[study]
    rows = []
    for task, suite_ref in suites.items():
        suite = get_suite(suite_ref)
        for agent, label in AGENTS.items():
            for ck in sorted((runs / suite.name).glob(f"{agent}-small-seed*/checkpoint.pt")):
                data = read_checkpoint(ck)
                for e in data["extra"]["counters"]["eval_scores"]:
                    rows.append({"impl": label, "task": task, "seed": int(data["extra"]["seed"]), "env_steps": int(e["env_steps"]),
                                 "wall_s": float(e["wall_s"]) - float(e.get("eval_s", 0.0)),
                                 "normalised": float(e["normalised"])})
        ref = suite.tasks[0].reference
        for path in sorted(reference.glob(f"{task}_s*.json")):
            stats = json.loads(path.read_text())
            for e in stats["evals"]:
                if e["env_steps"] == 0 or e["return"] is None:
                    continue
                rows.append({"impl": REFERENCE, "task": task, "seed": int(stats["seed"]), "env_steps": int(e["env_steps"]),
                             "wall_s": float(e["train_s"]), "normalised": ref.normalise(float(e["return"]))})
    found = pd.DataFrame(rows, columns=["impl", "task", "seed", "env_steps", "wall_s", "normalised"])
    return merge_into(DATA / f"{stem}_curves.csv", found, ["task", "impl", "seed"])


def _first(d: pd.DataFrame, threshold: float, column: str) -> str:
    hit = d[d["normalised"] >= threshold]
    if not len(hit):
        return f"not by {d['env_steps'].iloc[-1]:,}" if column == "env_steps" else "-"
    return f"{hit[column].iloc[0]:,.0f}"


def reach_table(df: pd.DataFrame) -> str:
    """Markdown: per (task, implementation, seed) env steps and training wall s to each threshold, best and
    final."""
    head = " | ".join(f"env steps to {t} | training wall s to {t}" for t in THRESHOLDS)
    lines = [f"| task | agent | seed | {head} | best | final (at env steps) |",
             "|---|---|---|" + "---|" * (2 * len(THRESHOLDS)) + "---|---|"]
    for (task, impl, seed), d in df.groupby(["task", "impl", "seed"], sort=False):
        cells = " | ".join(f"{_first(d, t, 'env_steps')} | {_first(d, t, 'wall_s')}" for t in THRESHOLDS)
        last = d.iloc[-1]
        lines.append(f"| {task} | {impl} | {seed} | {cells} | {d['normalised'].max():.2f} | "
                     f"{last['normalised']:.2f} ({int(last['env_steps']):,}) |")
    return "\n".join(lines) + "\n"


def plot(study: str, df: pd.DataFrame) -> list[str]:
    from amago_bench.report.figures import save

    stem, _, trials, section = STUDIES[study]
    paths = []
    order = [OURS, REFERENCE, *(v for v in AGENTS.values() if v != OURS)]  # new variants go last: no colour moves
    for task, d in df.groupby("task"):
        beside = ": ours beside the reference AMAGO" if (d["impl"] == REFERENCE).any() else ": ours (no reference run)"
        provenance = (f"scripts/fidelity/popgym_tasks.py plot --study {study}, from data/{stem}_curves.csv; 1 CPU thread "
                      f"per run; commands: reports/fidelity/README.md, '{section}'")
        crowded = d["impl"].nunique() > MAX_SEED_LINES_IMPLS
        seeds = d[d["impl"].isin([OURS, REFERENCE])] if crowded else d  # every variant's seeds: the means figure
        ax = plot_seed_curves(seeds, "env_steps", order=order, emphasise=OURS, target=THRESHOLDS[0], xlabel="environment steps")
        paths += save(ax, OUT / f"{stem}_{task}", f"POPGym {task}, {trials}{beside}", provenance)
        if crowded:
            ax = plot_seed_curves(mean_of_seeds(d, "env_steps"), "env_steps", order=order, emphasise=OURS,
                                  target=THRESHOLDS[0], xlabel="environment steps", seed_label="{seed}")
            paths += save(ax, OUT / f"{stem}_{task}_variants", f"POPGym {task}, {trials}: our variants beside the "
                          "reference AMAGO (each line the mean of its seeds)", provenance)
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect")
    c.add_argument("--study", choices=sorted(STUDIES), default="tasks")
    c.add_argument("--runs", type=Path, required=True, help="run root (the --runs of amago-bench train)")
    c.add_argument("--reference", type=Path, required=True, help="folder of reference_popgym.py's <Task>_s<N>.json files")
    sub.add_parser("plot").add_argument("--study", choices=sorted(STUDIES), default="tasks")
    args = ap.parse_args()
    stem = STUDIES[args.study][0]
    if args.cmd == "collect":
        df = collect(args.study, args.runs, args.reference)
        print(f"{len(df)} evaluations -> {DATA / f'{stem}_curves.csv'}")
        return
    df = pd.read_csv(DATA / f"{stem}_curves.csv")
    table = reach_table(df)
    (DATA / f"{stem}_reach.md").write_text(table)
    print(table)
    for p in plot(args.study, df):
        print(p)


if __name__ == "__main__":
    main()
