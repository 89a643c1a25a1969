"""Meta-World ML1 reach side by side: our amago2 against the reference AMAGO (issue 21, item 3;
reports/fidelity/README.md, "Meta-World ML1 side by side").

    python scripts/fidelity/ml1.py collect --runs runs-ml1 --reference /work/ref/logs
    python scripts/fidelity/ml1.py plot

``collect`` reads our runs (``RUNS/ml1-reach/<agent>-small-seed<N>/``: the evaluations kept in
``checkpoint.pt`` for env steps, training wall seconds and the success rate; ``metrics.csv`` (evaluation
episodes only) for the trial returns, the 3 episodes of each evaluation trial summed) and the reference runs'
statistics files (``REFERENCE/ml1reach_eval_s<N>.json``, written by the wrapper that runs its
``examples/07_metaworld.py``: per evaluation its "Average Total Successes" (0-3, divided by 3
here) and "Average Total Return" over 32 test-split trials, and the seconds it spent collecting
and updating) into ``data/ml1_curves.csv``. ``plot`` draws success and return against env steps
and training wall time and writes ``data/ml1_table.md``.
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
SUITE = "ml1-reach"
REFERENCE = "reference AMAGO, agent"
#: our agent files (reports/fidelity/configs/) -> the label of their curves
OURS = {"amago2-ml1-side-by-side": "ours, amago2 (filtered BC; greedy evaluation)",
        "amago2-ml1-online": "ours, amago2 + online term 1.0, BC 0.1",
        "amago2-ml1-reference-loss": "ours, the reference agent's losses (Dep. critic, online 1.0 + BC 0.1)",
        # the suspects for the gap, each the reference-loss file plus one more of the reference's choices
        "amago2-ml1-reference-loss-warmup500": "ours, the reference agent's losses and warm-up (500 updates)",
        "amago2-ml1-reference-loss-min": "ours, the reference agent's losses, clipped double Q",
        "amago2-ml1-reference-loss-min-target-actor": "ours, the reference agent's losses, clipped double Q, target actor",
        "amago2-ml1-reference-loss-min-target-actor-std": "ours, the reference agent's losses, clipped double Q, target actor, "
                                                          "its policy std and BC clip",
        "amago2-ml1-reference-loss-min-target-actor-std-critic": "ours, all of the above and the reference's critic shape",
        "amago2-ml1-reference-loss-min-target-actor-std-norm": "ours, clipped double Q, target actor, policy std, BC clip and "
                                                               "the reference's input normalisation",
        "amago2-ml1-reference-loss-norm": "ours, the reference agent's losses and input normalisation",
        "amago2-ml1-side-by-side-norm": "ours, amago2 (filtered BC) with input normalisation"}


def _ours(runs: Path) -> list[dict]:
    from amago_bench.agents.amago2.learner import read_checkpoint

    rows = []
    for ck in sorted((runs / SUITE).glob("*-small-seed*/checkpoint.pt")):
        data = read_checkpoint(ck)
        if not (ck.parent / "metrics.csv").exists():  # no evaluation yet
            continue
        episodes = pd.read_csv(ck.parent / "metrics.csv")
        trial_return = episodes.groupby(["env_steps", "trial"])["return"].sum().groupby(level=0).mean()
        for e in data["extra"]["counters"]["eval_scores"]:
            rows.append({"impl": OURS.get(data["config"]["name"], data["config"]["name"]), "seed": int(data["extra"]["seed"]), "env_steps": int(e["env_steps"]),
                         "wall_s": float(e["wall_s"]) - float(e.get("eval_s", 0.0)), "success": float(e["normalised"]),
                         "trial_return": float(trial_return.get(int(e["env_steps"]), float("nan")))})
    return rows


def _reference(folder: Path) -> list[dict]:
    rows = []
    for path in sorted(folder.glob("ml1reach_eval_s*.json")):
        stats = json.loads(path.read_text())
        for e in stats.get("evals", []):
            rows.append({"impl": REFERENCE, "seed": int(stats["seed"]), "env_steps": int(e["env_steps"]),
                         "wall_s": float(e["train_s"]) + float(e["collect_s"]),
                         "success": float(e["Average Total Successes in reach-v3"]) / 3.0,
                         "trial_return": float(e["Average Total Return in reach-v3"])})
    return rows


def collect(runs: Path, reference: Path) -> pd.DataFrame:
    found = pd.DataFrame(_ours(runs) + _reference(reference), columns=["impl", "seed", "env_steps", "wall_s", "success", "trial_return"])
    return merge_into(DATA / "ml1_curves.csv", found, ["impl", "seed"])


def table(df: pd.DataFrame) -> str:
    """Markdown: per (implementation, seed) every evaluation as success / trial return, their mean
    over the evaluations after training began (env steps > 0: both sides evaluate at 20k, 40k, ...),
    and the training seconds at the last."""
    steps = sorted(df["env_steps"].unique())
    lines = ["| implementation | seed | " + " | ".join(f"{s:,}" for s in steps) + " | mean of the evaluations after 0 | training wall s at the last |",
             "|---|---|" + "---|" * len(steps) + "---|---|"]
    for (impl, seed), d in df.groupby(["impl", "seed"]):
        d = d.set_index("env_steps")
        cells = [f"{d.at[s, 'success']:.2f} / {d.at[s, 'trial_return']:,.0f}" if s in d.index else "-" for s in steps]
        late = d[d.index > 0]
        mean = f"{late['success'].mean():.2f} / {late['trial_return'].mean():,.0f} ({len(late)})"
        lines.append(f"| {impl} | {seed} | " + " | ".join(cells) + f" | {mean} | {d['wall_s'].iloc[-1]:,.0f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    from amago_bench.report.figures import save

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect")
    c.add_argument("--runs", type=Path, required=True, help="root folder of our run directories")
    c.add_argument("--reference", type=Path, required=True, help="folder of the reference wrapper's ml1reach_eval_s<N>.json")
    sub.add_parser("plot")
    args = ap.parse_args()
    if args.cmd == "collect":
        df = collect(args.runs, args.reference)
        print(f"{len(df)} evaluations -> {DATA / 'ml1_curves.csv'}")
        return
    df = pd.read_csv(DATA / "ml1_curves.csv")
    md = table(df)
    (DATA / "ml1_table.md").write_text(md)
    print(md)
    seeds = ", ".join(str(s) for s in sorted(df["seed"].unique()))
    from matplotlib.ticker import FuncFormatter

    thousands = FuncFormatter(lambda v, _: f"{v / 1000:.0f}k")  # 100k, not 100000 (ticks ran into each other)
    first = list(OURS.values())[:3]  # ours as shipped and with the reference's losses; the suspects have their own figure
    suspects = [REFERENCE, *list(OURS.values())[2:]]
    for y, ylabel, bounds in (("success", "success rate, 3 attempts (test goals)", (0.0, 1.0)),
                              ("trial_return", "return of a 3-attempt trial (test goals)", None)):
        for x, xlabel, name in (("env_steps", "environment steps", "steps"),
                                ("wall_s", "training wall-clock seconds (1 CPU thread, evaluation excluded)", "wall")):
            ax = plot_seed_curves(df[df["impl"].isin([REFERENCE, *first])], x, y=y, order=[REFERENCE, *first], bounds=bounds,
                                  ylabel=ylabel, xlabel=xlabel)
            if x == "env_steps":
                ax.xaxis.set_major_formatter(thousands)
            for p in save(ax, OUT / f"ml1-reach_{y}_{name}", "Meta-World ML1 reach-v3: ours vs the reference AMAGO, equal settings",
                          f"scripts/fidelity/ml1.py plot, from reports/fidelity/data/ml1_curves.csv; seeds {seeds}; 32 test trials "
                          "per evaluation; commands: reports/fidelity/README.md, 'Meta-World ML1 side by side'"):
                print(p)
    # the suspects: one line per implementation, the mean of its seeds at each evaluation
    both = mean_of_seeds(df[df["impl"].isin(suspects)], "env_steps", y="trial_return")
    ax = plot_seed_curves(both, "env_steps", y="trial_return", order=suspects, bounds=None, seed_label="{seed}",
                          ylabel="return of a 3-attempt trial (test goals)", xlabel="environment steps")
    ax.xaxis.set_major_formatter(thousands)
    for p in save(ax, OUT / "ml1-reach-suspects_trial_return_steps", "ML1 reach-v3: the reference AMAGO against ours with its choices added, singly or "
                  "together (each line the mean of 2 seeds)",
                  "scripts/fidelity/ml1.py plot, from reports/fidelity/data/ml1_curves.csv; 32 test trials per evaluation "
                  "and seed; commands: reports/fidelity/README.md, 'Meta-World ML1 side by side'"):
        print(p)


if __name__ == "__main__":
    main()
