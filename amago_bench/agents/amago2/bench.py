"""`amago-bench bench agent`: acting cost against context length (cache vs recompute) and
update throughput, at the POPGym paper model (d_model 256, d_ff 1024, 3 layers, 8 heads;
30-dim observations, 26 actions, 7 gammas, 64 bins, 4 critics), on CPU and CUDA.

Acting: 8 parallel envs; the cache holds ``c`` tokens, then one more step is timed (cache),
against one full forward pass over the ``c + 1`` tokens (recompute). Update: one gradient
step (loss, backward, AdamW, Polyak) on a batch of 24 sequences x 128 tokens, in fp32 and with
bf16 autocast (the `optim.precision` setting; the device's default is reported first).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from typing import Any

import gymnasium as gym
import torch

from amago_bench.agents.amago2.config import AgentConfig, ModelConfig
from amago_bench.agents.amago2.learner import Learner, pick_device, set_threads
from amago_bench.agents.amago2.losses import Batch
from amago_bench.agents.amago2.model import shapes_from_spaces

TARGETS = {"update_s": 0.48, "act_ms_at_128": 4.5, "flat_ratio_512_vs_16": 1.5}
REFERENCE = {"update_s": 0.72, "act_ms_at_128": 6.7}
N_ENVS, BATCH, SEQ = 8, 24, 128


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


def main(args: Any) -> int:
    set_threads(getattr(args, "threads", None))  # given, else OMP_NUM_THREADS, else min(2, cpu count)
    devices = [args.device] if getattr(args, "device", None) not in (None, "", "auto") else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    results = []
    for d in devices:
        r = run(d, list(getattr(args, "contexts", None) or [16, 128, 512]), bool(getattr(args, "quick", False)))
        print(format_table(r))
        print()
        results.append(r)
    if getattr(args, "out", None):
        with open(args.out, "w") as f:
            json.dump(results if len(results) > 1 else results[0], f, indent=2)
        print(f"wrote {args.out}")
    return 0
