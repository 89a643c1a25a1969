"""`amago-bench bench agent`: acting cost against context length (cache vs recompute) and
update throughput, at the POPGym paper model (d_model 256, d_ff 1024, 3 layers, 8 heads;
30-dim observations, 26 actions, 7 gammas, 64 bins, 4 critics), on CPU and CUDA.

Acting: 8 parallel envs; the cache holds ``c`` tokens, then one more step is timed (cache),
against one full forward pass over the ``c + 1`` tokens (recompute). Update: one gradient
step (loss, backward, AdamW, Polyak) on a batch of 24 sequences x 128 tokens, in fp32 and with
bf16 autocast (the `optim.precision` setting; the device's default is reported first).

With ``--reference-python``: the same update on POPGym-shaped data (30-dim observations,
Discrete(26), 24 x 128, fp32) side by side with the reference AMAGO's own training step
(reference_update.py, run by the reference's Python), at trainable parameter counts within 1%
(PAIRS), in interleaved rounds, so the ratio is rerunnable by anyone with the reference installed.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch

from amago_bench.agents.amago2.config import AgentConfig, ModelConfig
from amago_bench.agents.amago2.learner import Learner, pick_device, set_threads
from amago_bench.agents.amago2.losses import Batch
from amago_bench.agents.amago2.model import shapes_from_spaces
from amago_bench.errors import UserError

TARGETS = {"update_s": 0.48, "act_ms_at_128": 4.5, "flat_ratio_512_vs_16": 1.5}
REFERENCE = {"update_s": 0.72, "act_ms_at_128": 6.7}
N_ENVS, BATCH, SEQ = 8, 24, 128
PAIRS = (("per-action", 240, "agent", 256), ("action-input", 296, "multitask", 256))
"""(our critic head, our d_model, the reference's agent type, its d_model): trainable parameter
counts within 1% (3 layers, 8 heads, d_ff = 4 x d_model on both sides)."""


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def _time(fn, reps: int, dev: torch.device) -> float:
    """Median seconds of ``reps`` calls (after one warm-up call)."""
    fn()
    _sync(dev)
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        _sync(dev)
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def run(device: str = "cpu", contexts: list[int] | None = None, quick: bool = False) -> dict[str, Any]:
    torch.set_flush_denormal(True)
    dev = pick_device(device)
    contexts = sorted(contexts or [16, 128, 512])
    model_cfg = ModelConfig(context=max(max(contexts) + 1, SEQ))
    cfg = AgentConfig(model=model_cfg)
    shapes = shapes_from_spaces(gym.spaces.Box(-1, 1, (30,)), gym.spaces.Discrete(26), 1024, 2)
    learner = Learner(cfg, shapes, dev)
    model = learner.model
    amp = dev.type == "cuda"
    reps = 5 if quick else 30
    g = torch.Generator().manual_seed(0)

    def tokens(n: int, length: int):
        return (torch.randn(n, length, 30, generator=g).to(dev), torch.randint(0, 26, (n, length), generator=g).to(dev),
                torch.randn(n, length, generator=g).to(dev), torch.rand(n, length, 3, generator=g).to(dev))

    acting = []
    model.eval()
    for c in contexts:
        obs, pa, pr, tm = tokens(N_ENVS, c + 1)
        with torch.no_grad(), torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
            state = model.init_state(N_ENVS, dev)
            for t in range(c):  # fill the cache with c tokens
                _, state = model.step(obs[:, t], pa[:, t], pr[:, t], tm[:, t], state)
            saved_len = state.len.clone() if hasattr(state, "len") else None

            def cached():
                nonlocal state
                if saved_len is not None:
                    state.len.copy_(saved_len)  # time the step at exactly c tokens of context
                h, state = model.step(obs[:, c], pa[:, c], pr[:, c], tm[:, c], state)
                model.actor(h)

            def recompute():
                h = model.encode(obs, pa, pr, tm)
                model.actor(h[:, -1])

            ms_cache = _time(cached, reps, dev) * 1e3
            ms_full = _time(recompute, max(3, reps // 3), dev) * 1e3
        acting.append({"context": c, "cache_ms": ms_cache, "recompute_ms": ms_full})

    obs, pa, pr, tm = tokens(BATCH, SEQ)
    batch = Batch(obs=obs, prev_action=pa, prev_reward=pr, time=tm, action=torch.randint(0, 26, (BATCH, SEQ), generator=g).to(dev),
                  reward=torch.randn(BATCH, SEQ, generator=g).to(dev), done=torch.zeros(BATCH, SEQ, device=dev),
                  valid=torch.ones(BATCH, SEQ, dtype=torch.bool, device=dev))
    # the update in both arithmetics (config `optim.precision`); "update_s" is the device's default
    update_by_precision, peak_gib = {}, {}
    for precision in ("fp32", "bf16"):
        learner.amp = precision == "bf16"
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats(dev)
        update_by_precision[precision] = _time(lambda: learner.update(batch), 3 if quick else 10, dev)
        if dev.type == "cuda":  # the most GPU memory the update held (weights, optimiser state, activations)
            peak_gib[precision] = torch.cuda.max_memory_allocated(dev) / 2**30
    default_precision = "bf16" if amp else "fp32"
    update_s = update_by_precision[default_precision]
    by_c = {a["context"]: a for a in acting}
    lo, hi = min(contexts), max(contexts)
    return {
        "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "config": {"d_model": model_cfg.d_model, "d_ff": model_cfg.d_ff, "layers": model_cfg.layers, "heads": model_cfg.heads,
                   "gammas": len(model_cfg.gammas), "critics": model_cfg.critics, "bins": model_cfg.bins, "obs_dim": 30,
                   "actions": 26, "parameters": sum(p.numel() for p in model.parameters()), "acting_envs": N_ENVS,
                   "batch": [BATCH, SEQ], "amp_bf16": amp},
        "acting": acting,
        "cache_ratio": by_c[hi]["cache_ms"] / by_c[lo]["cache_ms"],
        "cache_ratio_contexts": [lo, hi],
        "update_s": update_s,
        "update_precision": default_precision,
        "update_s_by_precision": update_by_precision,
        "update_peak_gib_by_precision": peak_gib,
        "sequences_per_s": BATCH / update_s,
        "targets": TARGETS,
        "reference_amago": REFERENCE,
    }


def time_update(d_model: int, critic_head: str, reps: int) -> dict[str, Any]:
    """Our update (loss, backward, clipping, AdamW, Polyak) on 24 x 128 POPGym-shaped tokens,
    fp32, CPU, at the given size and critic head: median seconds and trainable parameters."""
    torch.set_flush_denormal(True)
    model = ModelConfig(d_model=d_model, d_ff=4 * d_model, layers=3, heads=8, context=SEQ, critic_head=critic_head)
    learner = popgym_learner(AgentConfig(model=model))
    return {"update_s": time_learner_update(learner, reps), "parameters": sum(p.numel() for p in learner.model.parameters())}


def popgym_learner(cfg: AgentConfig) -> Learner:
    """A CPU learner on the POPGym-27 shapes (30-dim observations, Discrete(26))."""
    return Learner(cfg, shapes_from_spaces(gym.spaces.Box(-1, 1, (30,)), gym.spaces.Discrete(26), 1024, 1))


def time_learner_update(learner: Learner, reps: int) -> float:
    """Median seconds of ``learner.update`` on one fixed batch of BATCH x SEQ POPGym-shaped tokens
    (seeded, so every caller times the same data), after one warm-up update."""
    g = torch.Generator().manual_seed(0)
    act = torch.randint(0, 26, (BATCH, SEQ), generator=g)
    batch = Batch(obs=torch.randn(BATCH, SEQ, 30, generator=g), prev_action=act.roll(1, 1), prev_reward=torch.randn(BATCH, SEQ, generator=g),
                  time=torch.rand(BATCH, SEQ, 3, generator=g), action=act, reward=torch.randn(BATCH, SEQ, generator=g),
                  done=torch.zeros(BATCH, SEQ), valid=torch.ones(BATCH, SEQ, dtype=torch.bool))
    return _time(lambda: learner.update(batch), reps, torch.device("cpu"))


def time_reference_update(python: str, agent_type: str, d_model: int, threads: int, reps: int) -> dict[str, Any]:
    """The reference's own training step, run by its Python: median seconds and the trainable
    parameters its optimiser updates (target networks excluded, as ours)."""
    script = Path(__file__).with_name("reference_update.py")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ref.json"
        cmd = [python, str(script), "--agent_type", agent_type, "--d_model", str(d_model), "--d_ff", str(4 * d_model),
               "--layers", "3", "--heads", "8", "--threads", str(threads), "--reps", str(reps), "--json", str(out)]
        env = dict(os.environ, TORCHDYNAMO_DISABLE="1", OMP_NUM_THREADS=str(threads), WANDB_MODE="disabled")
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tmp)
        if done.returncode or not out.exists():
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise UserError(f"the reference's update timing failed ({' '.join(cmd[:2])}): {tail[0]}; "
                            "--reference-python must be the Python of a virtual environment holding the reference AMAGO "
                            "(UT-Austin-RPL/amago) and its dependencies")
        r = json.loads(out.read_text())
    params = next(v for k, v in r["params"].items() if k.startswith("trainable_total"))
    return {"update_s": float(r["timing"]["median_s"]), "parameters": int(params)}


def side_by_side(python: str, threads: int, reps: int, rounds: int) -> list[dict[str, Any]]:
    """Every pair of PAIRS, ours then the reference's, in ``rounds`` interleaved rounds (drift of a
    shared machine shows up as a difference between rounds): one row per (pair, round)."""
    rows = []
    for rnd in range(1, rounds + 1):
        for head, d_ours, ref_type, d_ref in PAIRS:
            ours = time_update(d_ours, head, reps)
            ref = time_reference_update(python, ref_type, d_ref, threads, reps)
            rows.append({"round": rnd, "ours": f"{head} head, d_model {d_ours}", "reference": f"`{ref_type}`, d_model {d_ref}",
                         "ours_parameters": ours["parameters"], "reference_parameters": ref["parameters"],
                         "ours_update_s": ours["update_s"], "reference_update_s": ref["update_s"],
                         "speedup": ref["update_s"] / ours["update_s"]})
    return rows


def format_side_by_side(rows: list[dict[str, Any]], threads: int) -> str:
    lines = [f"update time beside the reference AMAGO (24 x 128 POPGym-shaped tokens, 26 actions, fp32, {threads} threads, "
             "median per round)",
             f"{'round':>5}  {'ours':<26} {'params':>10} {'s':>7}   {'reference':<22} {'params':>10} {'s':>7}  {'ref/ours':>8}"]
    for r in rows:
        gap = abs(r["ours_parameters"] / r["reference_parameters"] - 1)
        flag = "" if gap <= 0.01 else f"  (parameters differ by {gap:.1%})"
        lines.append(f"{r['round']:>5}  {r['ours']:<26} {r['ours_parameters']:>10,} {r['ours_update_s']:>7.3f}   "
                     f"{r['reference']:<22} {r['reference_parameters']:>10,} {r['reference_update_s']:>7.3f}  "
                     f"{r['speedup']:>7.2f}x{flag}")
    return "\n".join(lines)


def format_table(r: dict[str, Any]) -> str:
    c = r["config"]
    lines = [
        f"amago2 agent benchmark on {r['device']} ({r['device_name']}, torch {r['torch']}, {r['threads']} threads)",
        f"model: d_model {c['d_model']} / ff {c['d_ff']} / {c['layers']} layers / {c['heads']} heads, {c['gammas']} gammas, "
        f"{c['critics']} critics x {c['bins']} bins, {c['parameters'] / 1e6:.2f}M parameters",
        "",
        f"acting, {c['acting_envs']} envs: ms per step",
        f"{'context':>8} {'cache':>10} {'recompute':>10} {'speed-up':>9}",
    ]
    for a in r["acting"]:
        lines.append(f"{a['context']:>8} {a['cache_ms']:>10.2f} {a['recompute_ms']:>10.2f} {a['recompute_ms'] / a['cache_ms']:>8.1f}x")
    lo, hi = r["cache_ratio_contexts"]
    lines += [
        f"cache cost {hi} vs {lo}: {r['cache_ratio']:.2f}x (target <= {r['targets']['flat_ratio_512_vs_16']}x)",
        "",
        f"update on {c['batch'][0]} x {c['batch'][1]} ({r['update_precision']}, the default here): {r['update_s']:.3f} s "
        f"({r['sequences_per_s']:.1f} sequences/s); target <= {r['targets']['update_s']} s, "
        f"reference AMAGO {r['reference_amago']['update_s']} s (fp32)",
    ]
    for prec, s in r.get("update_s_by_precision", {}).items():
        if prec != r["update_precision"]:
            lines.append(f"update with --precision {prec}: {s:.3f} s ({r['config']['batch'][0] / s:.1f} sequences/s)")
    for prec, gib in r.get("update_peak_gib_by_precision", {}).items():
        lines.append(f"peak GPU memory of the update ({prec}): {gib:.2f} GiB")
    near = min(r["acting"], key=lambda a: abs(a["context"] - 128))
    lines.append(f"acting at context {near['context']}: {near['cache_ms']:.2f} ms; target <= {r['targets']['act_ms_at_128']} ms, "
                 f"reference AMAGO {r['reference_amago']['act_ms_at_128']} ms")
    return "\n".join(lines)


def check_reference_python(python: str | None, rounds: int) -> None:
    """Refuse a --reference-python that cannot run, before anything is timed."""
    if python is None:
        return
    if not (Path(python).is_file() and os.access(python, os.X_OK)):
        raise UserError(f"--reference-python {python}: no such executable; give the python of the virtual environment "
                        "that holds the reference AMAGO (for example /work/ref/venv/bin/python)")
    if rounds < 1:
        raise UserError(f"--reference-rounds {rounds}: give 1 or more")


def main(args: Any) -> int:
    check_reference_python(getattr(args, "reference_python", None), int(getattr(args, "reference_rounds", 2)))
    set_threads(getattr(args, "threads", None))  # given, else OMP_NUM_THREADS, else min(2, cpu count)
    devices = [args.device] if getattr(args, "device", None) not in (None, "", "auto") else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    results = []
    for d in devices:
        r = run(d, list(getattr(args, "contexts", None) or [16, 128, 512]), bool(getattr(args, "quick", False)))
        print(format_table(r))
        print()
        results.append(r)
    ref_py = getattr(args, "reference_python", None)
    if ref_py:
        threads = torch.get_num_threads()
        reps = 3 if getattr(args, "quick", False) else 5
        rows = side_by_side(ref_py, threads, reps, int(getattr(args, "reference_rounds", 2)))
        print(format_side_by_side(rows, threads))
        print()
        results[0]["reference_side_by_side"] = rows
    if getattr(args, "out", None):
        with open(args.out, "w") as f:
            json.dump(results if len(results) > 1 else results[0], f, indent=2)
        print(f"wrote {args.out}")
    return 0
