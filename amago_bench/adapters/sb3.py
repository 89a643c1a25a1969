"""Stable-Baselines3 policies as agents of the harness's protocol.

Any object with SB3's ``predict(obs, state, episode_start, deterministic) -> (actions, state)``
(a PPO or RecurrentPPO model, a bare SB3 policy, or your own class) becomes an
:class:`~amago_bench.policy.Agent` through :class:`SB3Agent`. From the command line, a saved
model is scored with::

    amago-bench evaluate --suite scale-probe --agent amago_bench.adapters.sb3:load --checkpoint model.zip

``load`` picks the algorithm from the checkpoint (the policy class saved in it: RecurrentPPO
for sb3-contrib's recurrent actor-critic policies, PPO for SB3's actor-critic policy); ``ppo``
and ``recurrent_ppo`` force one. Actions are deterministic (the mode of the policy's
distribution). For another algorithm, or stochastic actions, write a two-line factory in a
module of your own and pass ``--agent mymodule:factory``::

    def factory(checkpoint):
        from stable_baselines3 import SAC
        return SB3Agent(SAC.load(checkpoint, device="cpu"), name="sb3-sac", deterministic=False)

Memory. A recurrent policy's state is what it remembers. It is cleared exactly where the
protocol says a trial starts (``Step.new_trial``), which is where a Gymnasium episode of the
trial env starts, so it matches training on ``gym.make("amago_bench/<suite>-v0")``: SB3 resets
the LSTM at ``episode_start``, and we pass ``new_trial`` as ``episode_start``. At the start of
an inner episode of the same trial (``new_episode`` without ``new_trial``) the state is kept.

Models trained with ``VecNormalize`` or other observation wrappers need those wrappers applied
to ``step.obs`` first: write a factory that does so.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from amago_bench.errors import UserError
from amago_bench.installation import pip_install
from amago_bench.policy import EnvSpec, Step


class SB3AdapterError(UserError, ValueError):
    """An SB3 checkpoint or policy cannot be used on this suite; the message names the fix."""


class Predictor(Protocol):
    """What SB3 models and policies have: batched ``predict`` with an optional recurrent state."""

    def predict(self, observation: Any, state: Any = None, episode_start: np.ndarray | None = None,
                deterministic: bool = False) -> tuple[np.ndarray, Any]: ...


class SB3Agent:
    """Batched agent around an SB3-style ``predict``: one recurrent state row per env slot.

    ``name`` is what the results database and tables show. ``deterministic`` picks the mode of
    the action distribution (True) or a sample (False). With ``deterministic=False`` the samples
    come from torch's global generator, which ``start`` seeds with the evaluation seed when the
    predictor has SB3's ``set_random_seed``.
    """

    def __init__(self, predictor: Predictor, name: str = "sb3", deterministic: bool = True) -> None:
        if not callable(getattr(predictor, "predict", None)):
            raise SB3AdapterError(f"{type(predictor).__name__} has no predict(obs, state, episode_start, "
                                  f"deterministic); pass an SB3 model or policy")
        self.predictor = predictor
        self.name = name
        self.deterministic = deterministic
        self.state: Any = None
        self.spec: EnvSpec | None = None

    def start(self, spec: EnvSpec, seed: int) -> None:
        _check_spaces(self.predictor, spec, self.name)
        self.spec = spec
        self.state = None  # SB3 builds a zero state for the batch on the first predict
        if not self.deterministic and callable(getattr(self.predictor, "set_random_seed", None)):
            self.predictor.set_random_seed(seed)

    def act(self, step: Step) -> np.ndarray:
        actions, self.state = self.predictor.predict(
            step.obs, state=self.state, episode_start=np.asarray(step.new_trial, dtype=bool),
            deterministic=self.deterministic,
        )
        return np.asarray(actions)


def _check_spaces(predictor: Any, spec: EnvSpec, name: str) -> None:
    """Fail before the first step when the model was trained on other spaces than the suite's."""
    import gymnasium as gym

    obs_space = getattr(predictor, "observation_space", None)
    act_space = getattr(predictor, "action_space", None)
    fix = ("train it on this suite (gym.make('amago_bench/<suite>-v0')) or on a suite with the same "
           "unified spaces (see `amago-bench suites`)")
    if act_space is not None and act_space != spec.action_space:
        raise SB3AdapterError(f"agent {name!r} was trained with action space {act_space}, but suite "
                              f"{spec.suite!r} has {spec.action_space}; {fix}")
    if obs_space is None:
        return
    if isinstance(obs_space, gym.spaces.Box) and isinstance(spec.observation_space, gym.spaces.Box):
        # SB3 stores image spaces channel-first and transposes observations itself
        same = sorted(obs_space.shape) == sorted(spec.observation_space.shape)
    else:
        same = obs_space == spec.observation_space
    if not same:
        raise SB3AdapterError(f"agent {name!r} was trained with observation space {obs_space}, but suite "
                              f"{spec.suite!r} has {spec.observation_space}; {fix}")


# --------------------------------------------------------------------------------------
# Loading checkpoints (the CLI passes ``checkpoint=`` from ``--checkpoint``)

#: Algorithm -> (module, class, agent name).
ALGORITHMS: dict[str, tuple[str, str, str]] = {
    "ppo": ("stable_baselines3", "PPO", "sb3-ppo"),
    "recurrent_ppo": ("sb3_contrib", "RecurrentPPO", "sb3-recurrent-ppo"),
}

#: Module of the policy class saved in a checkpoint -> the algorithm that loads it.
_ALGORITHM_OF_POLICY_MODULE = {
    "stable_baselines3.common.policies": "ppo",
    "sb3_contrib.common.recurrent.policies": "recurrent_ppo",
}


def _policy_module(path: Path) -> str:
    """The module of the policy class an SB3 ``.zip`` was saved with (from its ``data`` JSON)."""
    try:
        with zipfile.ZipFile(path) as zf:
            data = json.loads(zf.read("data"))
        return str(data["policy_class"]["__module__"])
    except (OSError, zipfile.BadZipFile, KeyError, TypeError, ValueError) as exc:
        raise SB3AdapterError(f"{path} is not a Stable-Baselines3 checkpoint (a .zip written by model.save) "
                              f"({type(exc).__name__}: {exc}); pass the file model.save() wrote") from exc


def detect_algorithm(checkpoint: str | Path) -> str:
    """``ppo`` or ``recurrent_ppo``, from the policy class an SB3 ``.zip`` was saved with."""
    module = _policy_module(Path(checkpoint))
    if module not in _ALGORITHM_OF_POLICY_MODULE:
        raise SB3AdapterError(
            f"{checkpoint}: cannot tell the algorithm from its policy class (module {module!r}); known: "
            f"{', '.join(ALGORITHMS)}. For another algorithm write a factory of your own that returns "
            f"SB3Agent(Algo.load(checkpoint)) and pass --agent mymodule:factory (see amago_bench/adapters/sb3.py)"
        )
    return _ALGORITHM_OF_POLICY_MODULE[module]


def load_model(checkpoint: str | Path, algorithm: str = "auto", device: str = "cpu") -> tuple[Any, str]:
    """Load an SB3 model from a ``.zip``; returns ``(model, algorithm)``.

    An explicit ``algorithm`` that contradicts the policy class saved in the file is refused
    (SB3 itself would load a recurrent policy into PPO without a word).
    """
    path = Path(checkpoint)
    if not path.is_file():
        raise SB3AdapterError(f"checkpoint {path} does not exist; pass the .zip that model.save() wrote")
    if algorithm not in ("auto", *ALGORITHMS):
        raise SB3AdapterError(f"unknown SB3 algorithm {algorithm!r}; known: auto, {', '.join(ALGORITHMS)}")
    saved = _ALGORITHM_OF_POLICY_MODULE.get(_policy_module(path))
    if algorithm == "auto":
        algorithm = detect_algorithm(path)
    elif saved is not None and saved != algorithm:
        raise SB3AdapterError(f"{path} holds a {ALGORITHMS[saved][1]} policy, not {ALGORITHMS[algorithm][1]}; use "
                              f"--agent amago_bench.adapters.sb3:{saved} (or :load, which reads it from the file)")
    module, cls, _ = ALGORITHMS[algorithm]
    try:
        algo_cls = getattr(__import__(module, fromlist=[cls]), cls)
    except ImportError as exc:
        raise SB3AdapterError(f"loading a {cls} checkpoint needs {module.replace('_', '-')} "
                              f"({exc}); install with: {pip_install('sb3')}") from exc
    try:
        model = algo_cls.load(path, device=device)
    except (KeyError, ValueError, RuntimeError, TypeError) as exc:
        raise SB3AdapterError(f"{path}: cannot load as {cls} ({type(exc).__name__}: {exc})") from exc
    return model, algorithm


def load(checkpoint: str | None = None, algorithm: str = "auto", device: str = "cpu",
         deterministic: bool = True) -> SB3Agent:
    """``--agent amago_bench.adapters.sb3:load --checkpoint model.zip``: the algorithm read from the file."""
    if checkpoint is None:
        raise SB3AdapterError("the SB3 adapter needs a model: add --checkpoint path/to/model.zip "
                              "(the file SB3's model.save() wrote)")
    model, algorithm = load_model(checkpoint, algorithm, device)
    return SB3Agent(model, name=ALGORITHMS[algorithm][2], deterministic=deterministic)


def ppo(checkpoint: str | None = None) -> SB3Agent:
    """``--agent amago_bench.adapters.sb3:ppo --checkpoint model.zip``: load with SB3's PPO."""
    return load(checkpoint, algorithm="ppo")


def recurrent_ppo(checkpoint: str | None = None) -> SB3Agent:
    """``--agent amago_bench.adapters.sb3:recurrent_ppo --checkpoint model.zip``: load with sb3-contrib's RecurrentPPO."""
    return load(checkpoint, algorithm="recurrent_ppo")
