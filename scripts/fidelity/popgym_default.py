"""One POPGym default at the small budget (reports/fidelity/, "One POPGym default (issue 20)").

    python scripts/fidelity/popgym_default.py collect --runs runs-popgym-default runs-popgym-tau01
    python scripts/fidelity/popgym_default.py plot

``collect`` reads every evaluation kept in the checkpoints ``RUNS/<suite>/<agent>-small-seed<N>/
checkpoint.pt`` of the two single-episode study suites (env steps, training wall seconds with
evaluation time taken out, normalised test score) into ``data/popgym_default_curves.csv``.
``plot`` writes ``data/popgym_default_reach.md`` (per run: env steps and training wall seconds
to the first evaluation >= 0.95, the score at 10k and 30k env steps, best, final) and draws
``popgym_default_<Task>.png/.svg``: the default's curves beside the earlier per-suite settings'
seeds 0 and 1 (from ``data/curves.csv``), and ``popgym_default_<Task>_variants``: every setting
tried, each line the mean of its seeds 0 and 1 (the seeds every setting has).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from curves import mean_of_seeds, merge_into, plot_seed_curves

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "reports" / "fidelity"
DATA = OUT / "data"
SUITES = {"popgym-repeat-single": "RepeatPreviousEasy", "popgym-cartpole-single": "PositionOnlyCartPoleEasy"}
THRESHOLD = 0.95
LABEL = "one POPGym default (issue 20)"
VARIANTS = {"amago2-popgym-anneal5k": "the default, scale annealed over 5k env steps",
            "amago2-popgym-upd500": "the default, 500 updates per epoch (2x)",
            "amago2-popgym-tau01": "the default with tau 0.01",
            "amago2-popgym-explore1m": "the default, scale annealed over 1M env steps",
            "amago2-popgym-gammas18": "the default with the reference's 18 discounts",
            "amago2-popgym-gammas5": "the default with 5 discounts (0.1 and 0.7 added)",
            "amago2-popgym-rm100": "the default with reward multiplier 100",
            "amago2-popgym-vr1e3": "the default with bins over symlog(+-1e3)",
            "amago2-popgym-widths": "the default with the reference's encoder and head widths",
            "amago2-popgym-widths-tstep": "the default with the reference's encoder widths",
            "amago2-popgym-widths-heads": "the default with the reference's head widths",
            "amago2-popgym-sinpos": "the default with sinusoidal positions",
            "amago2-popgym-widths-lr3e4": "the default with the reference's widths and lr 3e-4",
            "amago2-popgym-widths-lr5e4": "the default with the reference's widths and lr 5e-4",
            "amago2-popgym-widths-lr-anneal": "the default with the reference's widths and lr 1e-3 -> 3e-4 over 1,250 updates",
            "amago2-popgym-widths-lr3e4-tau01": "the default with the reference's widths, lr 3e-4 and tau 0.01",
            "amago2-popgym-widths-mlplr3e4": "the default with the reference's widths, their MLPs at lr 3e-4",
            "amago2-popgym-narrow": "the default, pinned (configs/amago2-popgym-narrow.toml)"}
"""Labels of the experiment agent files in reports/fidelity/configs/ run beside the default."""
EARLIER = {"amago2": "per-suite settings (before issue 20)", "amago2-tau02-eps02": "per-suite settings (before issue 20)"}


COLUMNS = ["impl", "agent", "task", "seed", "env_steps", "wall_s", "normalised"]


def collect(roots: list[Path]) -> pd.DataFrame:
    from amago_bench.agents.amago2.learner import read_checkpoint

    rows = []
    for suite, task in SUITES.items():
        for ck in sorted(ck for runs in roots for ck in (runs / suite).glob("*-small-seed*/checkpoint.pt")):
            data = read_checkpoint(ck)
            for e in data["extra"]["counters"]["eval_scores"]:
                name = data["config"]["name"]
                rows.append({"impl": LABEL if name == "amago2" else VARIANTS.get(name, name), "agent": name, "task": task, "seed": int(data["extra"]["seed"]),
                             "env_steps": int(e["env_steps"]), "wall_s": float(e["wall_s"]) - float(e.get("eval_s", 0.0)),
                             "normalised": float(e["normalised"])})
    return merge_into(DATA / "popgym_default_curves.csv", pd.DataFrame(rows, columns=COLUMNS), ["task", "impl", "seed"])


def _at(d: pd.DataFrame, steps: int) -> str:
    v = d.loc[d["env_steps"] == steps, "normalised"]
    return f"{v.iloc[0]:.3f}" if len(v) else "-"


def reach_table(df: pd.DataFrame) -> str:
    """Markdown: per (task, seed) the first evaluation >= 0.95, the scores at 10k / 30k env steps, best, final."""
    lines = [f"| task | setting | seed | env steps to {THRESHOLD} | training wall s to {THRESHOLD} | at 10k | at 30k | best | "
             "final (at env steps, training wall s) |", "|---|---|---|---|---|---|---|---|---|"]
    for (task, impl, seed), d in df.groupby(["task", "impl", "seed"], sort=False):
        hit = d[d["normalised"] >= THRESHOLD]
        steps = f"{hit['env_steps'].iloc[0]:,}" if len(hit) else f"not reached by {d['env_steps'].iloc[-1]:,}"
        wall = f"{hit['wall_s'].iloc[0]:,.0f}" if len(hit) else "-"
        last = d.iloc[-1]
        lines.append(f"| {task} | {impl} | {seed} | {steps} | {wall} | {_at(d, 10000)} | {_at(d, 30000)} | {d['normalised'].max():.2f} | "
                     f"{last['normalised']:.2f} ({int(last['env_steps']):,}, {last['wall_s']:,.0f}) |")
    return "\n".join(lines) + "\n"


def plot(df: pd.DataFrame) -> list[str]:
    from amago_bench.report.figures import save

    earlier = pd.read_csv(DATA / "curves.csv")
    earlier = earlier[earlier["impl"].isin(EARLIER) & earlier["seed"].isin([0, 1])].assign(impl=lambda d: d["impl"].map(EARLIER))
    paths = []
    order = [LABEL, EARLIER["amago2"], *VARIANTS.values()]  # one colour per setting in both figures
    provenance = ("scripts/fidelity/popgym_default.py plot, from data/popgym_default_curves.csv and data/curves.csv; "
                  "1 CPU thread; commands: reports/fidelity/README.md, 'One POPGym default (issue 20)'")
    for task, d in df.groupby("task"):
        both = pd.concat([d[["impl", "seed", "env_steps", "normalised"]],
                          earlier.loc[earlier["task"] == task, ["impl", "seed", "env_steps", "normalised"]]])
        seeds = both[both["impl"].isin([LABEL, EARLIER["amago2"]])]  # the variants: the figure of means below
        ax = plot_seed_curves(seeds, "env_steps", order=order, emphasise=LABEL, target=THRESHOLD, xlabel="environment steps")
        paths += save(ax, OUT / f"popgym_default_{task}", f"POPGym {task}, amago2 --budget small, single episode", provenance)
        paired = both[both["seed"].isin([0, 1])]  # every setting on the same seeds (the default also has 2 and 3)
        ax = plot_seed_curves(mean_of_seeds(paired, "env_steps"), "env_steps", order=order, emphasise=LABEL, target=THRESHOLD,
                              xlabel="environment steps", seed_label="{seed}")
        paths += save(ax, OUT / f"popgym_default_{task}_variants", f"POPGym {task}, single episode: every setting tried, "
                      "each line the mean of its seeds 0 and 1 (or seed 0 alone)", provenance)
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect")
    c.add_argument("--runs", type=Path, nargs="+", required=True, help="run roots (the --runs of amago-bench train)")
    sub.add_parser("plot")
    args = ap.parse_args()
    if args.cmd == "collect":
        df = collect(args.runs)
        print(f"{len(df)} evaluations -> {DATA / 'popgym_default_curves.csv'}")
        return
    df = pd.read_csv(DATA / "popgym_default_curves.csv")
    table = reach_table(df)
    (DATA / "popgym_default_reach.md").write_text(table)
    print(table)
    for p in plot(df):
        print(p)


if __name__ == "__main__":
    main()
