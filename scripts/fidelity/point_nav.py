"""Learning curves on the continuous-action probe ``point-nav`` (reports/fidelity/, "Continuous actions").

    python scripts/fidelity/point_nav.py collect --runs runs-pointnav
    python scripts/fidelity/point_nav.py plot

``collect`` reads every evaluation kept in the checkpoints ``RUNS/point-nav/<agent>-small-seed<N>/
checkpoint.pt`` (amago2 and rl2-ppo-gru alike): env steps, training wall seconds (evaluation
time taken out) and the normalised test score, into ``data/point_nav_curves.csv``. ``plot``
draws the curves against env steps and wall time and writes ``data/point_nav_reach.md``: per
run, the first evaluation at or above 0.8 (the issue's target), the best and the final score.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from curves import merge_into, plot_seed_curves

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "reports" / "fidelity"
DATA = OUT / "data"
SUITE = "point-nav"
TARGET = 0.8


def collect(runs: Path) -> pd.DataFrame:
    from amago_bench.agents.amago2.learner import read_checkpoint as read_amago2
    from amago_bench.agents.rl2_ppo.learner import read_checkpoint as read_rl2

    rows = []
    for ck in sorted((runs / SUITE).glob("*-small-seed*/checkpoint.pt")):
        read = read_rl2 if ck.parent.name.startswith("rl2-") else read_amago2
        data = read(ck)
        for e in data["extra"]["counters"]["eval_scores"]:
            rows.append({"agent": data["config"]["name"], "seed": int(data["extra"]["seed"]), "env_steps": int(e["env_steps"]),
                         "wall_s": float(e["wall_s"]) - float(e.get("eval_s", 0.0)), "normalised": float(e["normalised"])})
    found = pd.DataFrame(rows, columns=["agent", "seed", "env_steps", "wall_s", "normalised"])
    return merge_into(DATA / "point_nav_curves.csv", found, ["agent", "seed"])


def reach_table(df: pd.DataFrame, target: float = TARGET) -> str:
    """Markdown: per (agent, seed) the first evaluation >= target, the best and the final score."""
    lines = [f"| agent | seed | env steps to {target} | training wall s to {target} | best | final (at env steps, wall s) |",
             "|---|---|---|---|---|---|"]
    for (agent, seed), d in df.groupby(["agent", "seed"]):
        hit = d[d["normalised"] >= target]
        steps = f"{hit['env_steps'].iloc[0]:,}" if len(hit) else f"not reached by {d['env_steps'].iloc[-1]:,}"
        wall = f"{hit['wall_s'].iloc[0]:,.0f}" if len(hit) else "-"
        last = d.iloc[-1]
        lines.append(f"| {agent} | {seed} | {steps} | {wall} | {d['normalised'].max():.2f} | "
                     f"{last['normalised']:.2f} ({int(last['env_steps']):,}, {last['wall_s']:,.0f}) |")
    return "\n".join(lines) + "\n"


def main() -> None:
    from amago_bench.report.figures import save

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("collect").add_argument("--runs", type=Path, required=True, help="root folder of the run directories")
    sub.add_parser("plot")
    args = ap.parse_args()
    if args.cmd == "collect":
        df = collect(args.runs)
        print(f"{len(df)} evaluations -> {DATA / 'point_nav_curves.csv'}")
        return
    df = pd.read_csv(DATA / "point_nav_curves.csv")
    table = reach_table(df)
    (DATA / "point_nav_reach.md").write_text(table)
    print(table)
    seeds = ", ".join(str(s) for s in sorted(df["seed"].unique()))
    for x, xlabel, name in (("env_steps", "environment steps", "steps"),
                            ("wall_s", "training wall-clock seconds (1 CPU thread, evaluation excluded)", "wall")):
        ax = plot_seed_curves(df.dropna(subset=[x]), x, group="agent", target=TARGET, xlabel=xlabel,
                              ylabel="normalised return, episode 2 (test)")
        for p in save(ax, OUT / f"point-nav_{name}", "point-nav (2-D navigation to a hidden goal), small budget",
                      f"scripts/fidelity/point_nav.py plot, from reports/fidelity/data/point_nav_curves.csv; seeds {seeds}; "
                      "commands: reports/fidelity/README.md, Continuous actions"):
            print(p)


if __name__ == "__main__":
    main()
