"""Does a trained RepeatPreviousEasy agent know the remembered suit, episode by episode? For the
last N trials in a run's replay, the critic's best action (acting gamma, mean over critics) and
the actor's most likely action are compared, token by token, with the rewarded action (the suit
shown ``lag`` steps earlier in the same episode; the lag is read off the replay's rewards).

    python scripts/fidelity/probe_memory.py RUN_DIR [--trials 40]

Prints, per episode index of the trial: tokens, and for every gamma the critic's and the actor's
accuracy (chance 0.25).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--trials", type=int, default=40)
    args = ap.parse_args()

    import torch

    from amago_bench.agents.amago2.inputs import to_batch
    from amago_bench.agents.amago2.learner import learner_from_checkpoint, read_checkpoint

    torch.set_num_threads(1)
    learner = learner_from_checkpoint(read_checkpoint(args.run_dir / "checkpoint.pt"))
    model, cfg = learner.model.eval(), learner.cfg
    files = sorted((args.run_dir / "replay").glob("*.npz"))[-args.trials:]
    trajs = [dict(np.load(f)) for f in files]
    suit = lambda tr: tr["obs"][:, :4].argmax(1)  # noqa: E731  (the card's one-hot suit)
    episode = lambda tr: tr["obs"][:, 27].astype(int)  # noqa: E731  (episode index in the trial)
    # the lag: the shift k for which a positive reward always follows action == suit k steps back
    lag = None
    for k in range(1, 8):
        hits = [(tr["action"][t] == suit(tr)[t - k]) == (tr["reward"][t] > 0)
                for tr in trajs for t in range(k, len(tr["reward"]) - 1) if tr["reward"][t] != 0 and episode(tr)[t] == episode(tr)[t - k]]
        if hits and all(hits):
            lag = k
            break
    assert lag is not None, "no lag explains the rewards (are the scored episode's rewards in this replay?)"
    stats: dict[int, list[np.ndarray]] = {}
    A = model.shapes.action_dim
    for tr in trajs:
        T = len(tr["reward"])
        sample = {k: v[None] for k, v in tr.items()}
        sample["valid"] = np.ones((1, T), bool)
        batch = to_batch(sample, model.shapes, "cpu")
        with torch.no_grad():
            h = model.encode(batch.obs, batch.prev_action, batch.prev_reward, batch.time)
            pi = model.actor(h)[0].argmax(-1).numpy()  # (T, G)
            z = model.critics.trunk(h)
            every = torch.arange(A).reshape(1, 1, A, 1).expand(1, T, A, len(cfg.model.gammas))
            q = model.critics.values(z, every, learner.twohot.decode if cfg.loss.critic == "ind" else
                                     (lambda x: learner.popart.denormalise(x[..., 0].float()))).mean(0)[0].numpy()  # (T, A, G)
        s, ep = suit(tr), episode(tr)
        for t in range(lag, T - 1):
            if ep[t] != ep[t - lag]:
                continue
            stats.setdefault(int(ep[t]), []).append(np.concatenate([q[t].argmax(0) == s[t - lag], pi[t] == s[t - lag]]))
    G = len(cfg.model.gammas)
    print(f"{args.run_dir}: lag {lag}, {len(trajs)} trials, acting gamma {cfg.model.act_gamma}")
    print("episode tokens  " + "  ".join(f"critic@{x}" for x in cfg.model.gammas) + "  " + "  ".join(f"actor@{x}" for x in cfg.model.gammas))
    for e, rows in sorted(stats.items()):
        acc = np.mean(rows, axis=0)
        print(f"{e:>7} {len(rows):>6}  " + "  ".join(f"{a:>{len('critic@') + len(str(x))}.2f}" for a, x in zip(acc[:G], cfg.model.gammas))
              + "  " + "  ".join(f"{a:>{len('actor@') + len(str(x))}.2f}" for a, x in zip(acc[G:], cfg.model.gammas)))


if __name__ == "__main__":
    main()
