"""Issue 24 item 1's ideas for a faster per-action critic, timed beside the reference AMAGO's `agent`
update (reports/bench/agent.md, "The ideas of issue 24 item 1, measured").

    OMP_NUM_THREADS=2 python scripts/fidelity/update_variants.py --reference-python REF_PYTHON [--rounds 2]

Each variant is our update (``bench.time_learner_update``'s batch: 24 x 128 POPGym-shaped tokens, 26 actions,
fp32) at a critic hidden width and expectation, with d_model chosen (a multiple of 8) so that the
trainable parameters are the closest to the reference `agent` at d_model 256 (bench.PAIRS[0]);
every round times every variant and then the reference, so the ratios are within one round.
"""

from __future__ import annotations

import argparse

import torch

from amago_bench.agents.amago2 import bench
from amago_bench.agents.amago2.config import AgentConfig, LossConfig, ModelConfig
from amago_bench.agents.amago2.learner import Learner

VARIANTS = ((256, "sample"), (256, "exact"), (128, "sample"), (64, "sample"))
"""(critic head_hidden, loss expectation): the default, the exact E_pi over all 26 actions, narrower critics."""


def learner(d_model: int, head_hidden: int, expectation: str) -> Learner:
    model = ModelConfig(d_model=d_model, d_ff=4 * d_model, layers=3, heads=8, context=bench.SEQ, critic_head="per-action",
                        head_hidden=head_hidden)
    return bench.popgym_learner(AgentConfig(model=model, loss=LossConfig(expectation=expectation)))


def parameters(lr: Learner) -> int:
    return sum(p.numel() for p in lr.model.parameters())


def matched_d_model(head_hidden: int, target: int) -> int:
    return min(range(128, 520, 8), key=lambda d: abs(parameters(learner(d, head_hidden, "sample")) - target))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reference-python", required=True, help="the Python of the reference AMAGO's virtual environment")
    p.add_argument("--rounds", type=int, default=2, help="interleaved rounds (default 2)")
    p.add_argument("--reps", type=int, default=5, help="timed updates per measurement, median taken (default 5)")
    p.add_argument("--threads", type=int, default=2, help="torch threads on both sides (default 2)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    _, _, ref_type, ref_d = bench.PAIRS[0]
    ref0 = bench.time_reference_update(args.reference_python, ref_type, ref_d, args.threads, 1)
    sizes = {hh: matched_d_model(hh, ref0["parameters"]) for hh in {hh for hh, _ in VARIANTS}}
    print(f"reference `{ref_type}` d_model {ref_d}: {ref0['parameters']:,} trainable parameters; {args.threads} threads, fp32")
    print(f"{'round':>5}  {'critic hidden':>13}  {'expectation':>11}  {'d_model':>7}  {'parameters':>10}  {'ours s':>7}  {'ref s':>6}  ref/ours")
    for rnd in range(1, args.rounds + 1):
        ours = {v: bench.time_learner_update(learner(sizes[v[0]], *v), args.reps) for v in VARIANTS}
        ref = bench.time_reference_update(args.reference_python, ref_type, ref_d, args.threads, args.reps)["update_s"]
        for (hh, exp), s in ours.items():
            n = parameters(learner(sizes[hh], hh, exp))
            print(f"{rnd:>5}  {hh:>13}  {exp:>11}  {sizes[hh]:>7}  {n:>10,}  {s:>7.3f}  {ref:>6.3f}  {ref / s:.2f}x", flush=True)


if __name__ == "__main__":
    main()
