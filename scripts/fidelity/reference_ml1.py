"""Run the reference AMAGO's examples/07_metaworld.py on CPU with metaworld 3.x from PyPI.

Usage: AMAGO_REF=CHECKOUT REFERENCE_VENV/bin/python scripts/fidelity/reference_ml1.py [--seed S] \
           [--eval_every_epochs N] [--eval_trials_per_actor T] [--max_env_steps M] [--time_limit S] \
           [--skip_test] [--stats_json PATH] -- <args of examples/07_metaworld.py>

(the issue-21 side-by-side command and the reference's virtual environment: reports/fidelity/README.md,
"Meta-World ML1 side by side"; CHECKOUT is a clone of UT-Austin-RPL/amago, default /work/ref/amago)

What this wrapper changes (nothing in the reference checkout is edited):
  * OMP_NUM_THREADS=1, torch 1 intra-op / 1 inter-op thread, WANDB_MODE=disabled, TORCHDYNAMO_DISABLE=1.
  * gymnasium 0.29 (the reference's pin) lacks gymnasium.vector.AutoresetMode, which metaworld 3.x
    references at import time (only in its gym.make_vec helpers, unused here): a stand-in enum is
    installed before `import metaworld`.
  * The reference wrapper (amago/envs/builtin/metaworld_ml.py) was written for the pre-gymnasium
    metaworld API (reset() -> obs, step() -> 4-tuple). Each metaworld env is wrapped in a thin
    adapter giving that API: reset() drops info; step() returns done = terminated or truncated.
    (metaworld 3 never terminates and truncates at step 500, the same step at which the reference
    wrapper's own 500-step counter ends the attempt, so done is never what ends an attempt.)
  * TformerTrajEncoder.attention_type = VanillaAttention (FlashAttention needs CUDA + flash_attn).
  * Timing: wall time of Experiment.collect_new_training_data (env steps = timesteps_per_epoch *
    parallel_actors per call) and of Experiment.train_step; evaluation time is reported separately.
    --time_limit stops the run at the next epoch boundary once that many seconds have passed.
  * --skip_test: skip the final evaluate_test (20k timesteps per actor in the example).
  * --eval_every_epochs N: every N collected epochs (and before the first) the reference's own
    evaluate_test on its test-split env (the example's make_test_env) for T trials per actor,
    timed apart from training; each row (env steps, updates, training seconds, its success and
    return averages) goes to --stats_json under "evals". --max_env_steps stops after the
    evaluation at that many env steps. --seed seeds python's random (its task and goal choice),
    numpy and torch.
"""

import os
import sys

# /work/ref holds the checkout dir `amago/`, which would shadow the installed package as a namespace package
_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ["WANDB_MODE"] = "disabled"
os.environ["TORCHDYNAMO_DISABLE"] = "1"

import argparse
import enum
import json
import runpy
import sys
import time

import torch

torch.set_num_threads(1)
torch.set_num_interop_threads(1)

import gymnasium

if not hasattr(gymnasium.vector, "AutoresetMode"):

    class AutoresetMode(enum.Enum):  # stand-in: gymnasium>=1.1 defines this; metaworld 3 names it in signatures
        NEXT_STEP = "NextStep"
        SAME_STEP = "SameStep"
        DISABLED = "Disabled"

    gymnasium.vector.AutoresetMode = AutoresetMode

import metaworld  # noqa: E402

REF = os.environ.get("AMAGO_REF", "/work/ref/amago")
EXAMPLE = os.path.join(REF, "examples", "07_metaworld.py")

wp = argparse.ArgumentParser()
wp.add_argument("--time_limit", type=float, default=None)
wp.add_argument("--skip_test", action="store_true")
wp.add_argument("--stats_json", type=str, default=None)
wp.add_argument("--seed", type=int, default=None, help="seeds python's random (task choice), numpy and torch")
wp.add_argument("--eval_every_epochs", type=int, default=0, help="test-split evaluation every N collected epochs (0: none)")
wp.add_argument("--eval_trials_per_actor", type=int, default=4)
wp.add_argument("--max_env_steps", type=int, default=None, help="stop (after an evaluation) once this many env steps are collected")
argv = sys.argv[1:]
if "--" in argv:
    i = argv.index("--")
    wargs, rest = wp.parse_args(argv[:i]), argv[i + 1:]
else:
    wargs, rest = wp.parse_args([]), argv

from amago import cli_utils  # noqa: E402
from amago.experiment import Experiment  # noqa: E402
from amago.nets import transformer  # noqa: E402
from amago.envs.builtin import metaworld_ml  # noqa: E402


class OldApiMetaworld:
    """Pre-gymnasium metaworld API on top of a metaworld 3.x env."""

    def __init__(self, env):
        self._env = env

    def __getattr__(self, name):
        return getattr(self._env, name)

    def reset(self, *args, **kwargs):
        obs, _info = self._env.reset(*args, **kwargs)
        return obs

    def step(self, action):
        obs, rew, terminated, truncated, info = self._env.step(action)
        return obs, float(rew), bool(terminated or truncated), info


_orig_get_env_funcs = metaworld_ml.KEpisodeMetaworld.get_env_funcs


def _get_env_funcs(self, benchmark, train_set):
    return {k: (OldApiMetaworld(env), tasks) for k, (env, tasks) in _orig_get_env_funcs(self, benchmark, train_set).items()}


metaworld_ml.KEpisodeMetaworld.get_env_funcs = _get_env_funcs

_orig_use_config = cli_utils.use_config


def _use_config(custom_params, gin_configs=None, finalize=True):
    custom_params = dict(custom_params)
    custom_params["amago.nets.traj_encoders.TformerTrajEncoder.attention_type"] = transformer.VanillaAttention
    return _orig_use_config(custom_params, gin_configs, finalize)


cli_utils.use_config = _use_config

STATS = {"learn_t0": None, "collect_s": 0.0, "train_s": 0.0, "val_s": 0.0, "env_steps": 0, "updates": 0, "epochs_collected": 0,
         "setup_to_first_collect_s": None, "rows": []}
T0 = time.perf_counter()


class _Stop(Exception):
    pass


def _report(final=False):
    tr = STATS["collect_s"] + STATS["train_s"]
    row = {"epochs_collected": STATS["epochs_collected"], "env_steps": STATS["env_steps"], "updates": STATS["updates"],
           "collect_s": round(STATS["collect_s"], 2), "train_s": round(STATS["train_s"], 2),
           "val_s": round(STATS["val_s"], 2), "elapsed_s": round(time.perf_counter() - T0, 2),
           "env_steps_per_s_training": round(STATS["env_steps"] / tr, 2) if tr > 0 else None,
           "env_steps_per_s_collect_only": round(STATS["env_steps"] / STATS["collect_s"], 2) if STATS["collect_s"] else None,
           "loop_s_excl_val": round(time.perf_counter() - STATS["learn_t0"] - STATS["val_s"], 2) if STATS["learn_t0"] else None,
           "env_steps_per_s_loop": round(STATS["env_steps"] / (time.perf_counter() - STATS["learn_t0"] - STATS["val_s"]), 2) if STATS["learn_t0"] else None,
           "s_per_update": round(STATS["train_s"] / STATS["updates"], 4) if STATS["updates"] else None}
    if not final:
        STATS["rows"].append(row)
    print(("[FINAL] " if final else "[stats] ") + json.dumps(row), flush=True)
    return row


_orig_collect = Experiment.collect_new_training_data


def _arg(name, default):
    return type(default)(rest[rest.index(name) + 1]) if name in rest else default


def _evaluate(self):
    """Test-split evaluation (the example's make_test_env), timed apart from training."""
    k = _arg("--k", 3)
    bench = _arg("--benchmark", "reach-v2")
    t = time.perf_counter()
    logs = _orig_evaluate_test(self, lambda: metaworld_ml.Metaworld(bench, "test", k_episodes=k),
                              timesteps=wargs.eval_trials_per_actor * k * 500)
    STATS["val_s"] += time.perf_counter() - t
    keep = {key: float(v) for key, v in logs.items() if "Total Successes" in key or "Total Return" in key or "Success" in key}
    row = {"env_steps": STATS["env_steps"], "updates": STATS["updates"], "train_s": round(STATS["train_s"], 2),
           "collect_s": round(STATS["collect_s"], 2), "eval_s": round(time.perf_counter() - t, 2), **keep}
    STATS.setdefault("evals", []).append(row)
    print("[eval] " + json.dumps(row), flush=True)
    if wargs.stats_json:
        with open(wargs.stats_json, "w") as f:
            json.dump(STATS, f, indent=1)


def _collect(self):
    if STATS["epochs_collected"] > 0:
        _report()
    if wargs.eval_every_epochs and STATS["epochs_collected"] % wargs.eval_every_epochs == 0:
        _evaluate(self)
    if wargs.max_env_steps is not None and STATS["env_steps"] >= wargs.max_env_steps:
        raise _Stop()
    if STATS["setup_to_first_collect_s"] is None:
        STATS["setup_to_first_collect_s"] = round(time.perf_counter() - T0, 2)
    if wargs.time_limit is not None and time.perf_counter() - T0 > wargs.time_limit:
        raise _Stop()
    t = time.perf_counter()
    out = _orig_collect(self)
    STATS["collect_s"] += time.perf_counter() - t
    STATS["env_steps"] += self.train_timesteps_per_epoch * self.parallel_actors
    STATS["epochs_collected"] += 1
    return out


_orig_train_step = Experiment.train_step


def _train_step(self, batch, log_step):
    t = time.perf_counter()
    out = _orig_train_step(self, batch, log_step)
    STATS["train_s"] += time.perf_counter() - t
    STATS["updates"] += 1
    return out


_orig_val = Experiment.evaluate_val


def _val(self):
    t = time.perf_counter()
    out = _orig_val(self)
    STATS["val_s"] += time.perf_counter() - t
    return out


_orig_learn = Experiment.learn


def _learn(self):
    STATS["learn_t0"] = time.perf_counter()
    return _orig_learn(self)


Experiment.learn = _learn
Experiment.collect_new_training_data = _collect
Experiment.train_step = _train_step
Experiment.evaluate_val = _val
_orig_evaluate_test = Experiment.evaluate_test
if wargs.skip_test:
    Experiment.evaluate_test = lambda self, *a, **k: None

if wargs.seed is not None:
    import random as _random
    import numpy as _np
    _random.seed(wargs.seed)
    _np.random.seed(wargs.seed)
    torch.manual_seed(wargs.seed)
sys.argv = [EXAMPLE] + rest
try:
    runpy.run_path(EXAMPLE, run_name="__main__")
except _Stop:
    print(f"[wrapper] stopped (time limit {wargs.time_limit}s or max_env_steps {wargs.max_env_steps})", flush=True)
final = _report(final=True)
if wargs.stats_json:
    with open(wargs.stats_json, "w") as f:
        json.dump({"final": final, "rows": STATS["rows"], "evals": STATS.get("evals", []), "argv": rest, "seed": wargs.seed,
                   "setup_to_first_collect_s": STATS["setup_to_first_collect_s"],
                   "versions": {"torch": torch.__version__, "gymnasium": gymnasium.__version__,
                                "metaworld": getattr(metaworld, "__version__", "?")}}, f, indent=1)
