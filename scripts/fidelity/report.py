"""The fidelity report (reports/fidelity/): learning curves and time-to-0.95 tables of our agent
(each critic head), the reference AMAGO (its `agent` and `multitask` types) and SB3 RecurrentPPO
on the single-task, single-episode POPGym suites.

    python scripts/fidelity/report.py collect --runs RUNS_ROOT [ROOT=LABEL ...] [--reference REF_CURVES.csv]
    python scripts/fidelity/report.py plot

``collect`` gathers every evaluation of our runs (``RUNS_ROOT/<suite>/<agent>-small-seed<N>/
checkpoint.pt``: env steps, wall seconds of training with evaluation time taken out, as the
reference's wrapper counts them, normalised score) and, when given, the reference
AMAGO's curves (columns impl, task, seed, env_steps, wall_s, eval_return; raw returns are
normalised here with the suite's reference constants) into ``data/curves.csv``; SB3 rows
come from ``data/sb3.csv`` (scripts/fidelity/sb3_recurrent_ppo.py). ``plot`` draws the
figures and writes ``data/time_to_095.md`` from ``data/curves.csv`` alone.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from curves import plot_seed_curves

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "reports" / "fidelity"
DATA = OUT / "data"
TASK_SUITE = {"RepeatPreviousEasy": "popgym-repeat-single", "PositionOnlyCartPoleEasy": "popgym-cartpole-single"}
THRESHOLD = 0.95
IMPL_NAMES = {"amago2": "ours, per-action head (default)",
              "amago2-tau02-eps02": "ours, per-action head (default)",  # an agent file equal to the default (run before it changed)
              "amago2 earlier": "ours, per-action head, tau 0.003, epsilon U(0, 1) (the reference's settings)",
              "amago2-tau02": "ours, per-action head, tau 0.02, epsilon U(0, 1)",
              "amago2 cp-settings": "ours, per-action head, tau 0.02, epsilon U(0, 0.2) (CartPole's settings)",
              "amago2-action-input": "ours, action-input head",
              "amago2 d64-short-exploration": "ours, per-action head, d_model 64, epsilon to 0.05 by 10k steps",
              "ref-agent": "reference AMAGO, agent", "ref-multitask": "reference AMAGO, multitask",
              "sb3-recurrent-ppo": "SB3 RecurrentPPO"}


def _normalise(suite_name: str, raw: np.ndarray) -> np.ndarray:
    from amago_bench.suite import get_suite

    ref = get_suite(suite_name).tasks[0].reference
    return (raw - ref.low) / (ref.high - ref.low)


def collect(runs: list[str], reference: Path | None) -> pd.DataFrame:
    """``runs``: run roots, each ``PATH`` or ``PATH=LABEL`` (LABEL is appended to the agent name)."""
    from amago_bench.agents.amago2.learner import read_checkpoint

    rows = []
    for spec in runs:
        root, _, label = spec.partition("=")
        rows += _our_rows(Path(root), label, read_checkpoint)
    rows += _other_rows(reference)
    df = pd.DataFrame(rows).sort_values(["task", "impl", "seed", "env_steps"])
    DATA.mkdir(parents=True, exist_ok=True)
    df.to_csv(DATA / "curves.csv", index=False)
    return df


def _our_rows(runs: Path, label: str, read_checkpoint) -> list[dict]:
    rows = []
    for suite in TASK_SUITE.values():
        for ck in sorted((runs / suite).glob("*-small-seed*/checkpoint.pt")):
            data = read_checkpoint(ck)
            agent = data["config"]["name"] + (f" {label}" if label else "")
            seed = int(data["extra"]["seed"])
            for e in data["extra"]["counters"]["eval_scores"]:
                rows.append({"impl": agent, "suite": suite, "task": next(iter(e["tasks"])), "seed": seed,
                             "env_steps": e["env_steps"],
                             "wall_s": e.get("wall_s", np.nan) - e.get("eval_s", 0.0),  # training only, as the reference's
                             "normalised": e["normalised"]})
    return rows


def _other_rows(reference: Path | None) -> list[dict]:
    rows = []
    if reference is not None:
        ref = pd.read_csv(reference)
        trained = ref.groupby(["impl", "task", "seed"])["env_steps"].transform("max") > 0
        ref = ref[trained]  # runs that crashed before their first epoch have nothing to show
        for task, suite in TASK_SUITE.items():
            d = ref[ref["task"] == task]
            for r, n in zip(d.itertuples(), _normalise(suite, d["eval_return"].to_numpy(float))):
                rows.append({"impl": r.impl, "suite": suite, "task": task, "seed": int(r.seed), "env_steps": int(r.env_steps),
                             "wall_s": float(r.wall_s), "normalised": float(n)})
    sb3 = DATA / "sb3.csv"
    if sb3.exists():
        s = pd.read_csv(sb3)
        for r in s.itertuples():
            task = next(t for t, su in TASK_SUITE.items() if su == r.suite)
            rows.append({"impl": r.impl, "suite": r.suite, "task": task, "seed": int(r.seed), "env_steps": int(r.env_steps),
                         "wall_s": float(r.wall_s), "normalised": float(r.normalised)})
    return rows


LABEL_ORDER = list(dict.fromkeys(IMPL_NAMES.values()))


def labelled(df: pd.DataFrame) -> pd.DataFrame:
    """``impl`` replaced by its label, so runs of equal settings made under two agent names are one line."""
    return df.assign(impl=df["impl"].map(lambda i: IMPL_NAMES.get(i, i)))


def first_reach(df: pd.DataFrame, threshold: float = THRESHOLD) -> pd.DataFrame:
    """Per (task, impl, seed): env steps and wall seconds of the first evaluation >= threshold
    (NaN if never), the final score and the last env steps evaluated."""
    out = []
    df = labelled(df)
    order = {i: k for k, i in enumerate(LABEL_ORDER)}
    df = df.assign(_o=df["impl"].map(lambda i: order.get(i, len(order)))).sort_values(["task", "_o", "seed", "env_steps"])
    for (task, _, impl, seed), d in df.groupby(["task", "_o", "impl", "seed"], sort=False):
        hit = d[d["normalised"] >= threshold]
        out.append({"task": task, "impl": impl, "seed": seed,
                    "env_steps_to": float(hit["env_steps"].iloc[0]) if len(hit) else np.nan,
                    "wall_s_to": float(hit["wall_s"].iloc[0]) if len(hit) else np.nan,
                    "best": float(d["normalised"].max()),
                    "final": float(d["normalised"].iloc[-1]), "last_env_steps": int(d["env_steps"].iloc[-1])})
    return pd.DataFrame(out)


def table_md(reach: pd.DataFrame) -> str:
    lines = [f"| task | implementation | seed | env steps to {THRESHOLD} | training wall s to {THRESHOLD} | best | final (at env steps) |",
             "|---|---|---|---|---|---|---|"]
    for r in reach.itertuples():
        steps = f"{r.env_steps_to:,.0f}" if np.isfinite(r.env_steps_to) else f"not reached by {r.last_env_steps:,}"
        wall = f"{r.wall_s_to:,.0f}" if np.isfinite(r.wall_s_to) else "-"
        lines.append(f"| {r.task} | {r.impl} | {r.seed} | {steps} | {wall} | {r.best:.2f} | {r.final:.2f} ({r.last_env_steps:,}) |")
    return "\n".join(lines) + "\n"


def plot(df: pd.DataFrame) -> list[str]:
    from amago_bench.report.figures import save

    paths = []
    for task, d in df.groupby("task"):
        for x, xlabel, name in (("env_steps", "environment steps", "steps"),
                                ("wall_s", "training wall-clock seconds (1 CPU thread, evaluation excluded)", "wall")):
            ax = plot_seed_curves(labelled(d.dropna(subset=[x])), x, order=LABEL_ORDER, target=THRESHOLD, xlabel=xlabel)
            seeds = ", ".join(str(int(v)) for v in sorted(d["seed"].unique()))
            paths += save(ax, OUT / f"{task}_{name}", f"POPGym {task}, single task, 1 episode per trial",
                          f"scripts/fidelity/report.py plot, from reports/fidelity/data/curves.csv; seeds {seeds}; "
                          f"runs stop after two evaluations >= 0.999; commands and versions: reports/fidelity/README.md")
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect")
    c.add_argument("--runs", nargs="+", required=True, help="run roots, PATH or PATH=LABEL")
    c.add_argument("--reference", type=Path)
    sub.add_parser("plot")
    args = ap.parse_args()
    if args.cmd == "collect":
        df = collect(args.runs, args.reference)
        print(f"{len(df)} evaluations -> {DATA / 'curves.csv'}")
        return
    df = pd.read_csv(DATA / "curves.csv")
    reach = first_reach(df)
    (DATA / "time_to_095.md").write_text(table_md(reach))
    reach.to_csv(DATA / "time_to_095.csv", index=False)
    print(table_md(reach))
    for p in plot(df):
        print(p)


if __name__ == "__main__":
    main()
