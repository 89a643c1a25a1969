"""Misbehaving agents for CLI tests (loaded as tests.cli.agents:NAME)."""

import numpy as np


class NaNAgent:
    name = "nan-agent"

    def start(self, spec, seed):
        self.n = spec.num_envs

    def act(self, step):
        return np.full(self.n, np.nan)


class NeedsArg:
    """A constructor that needs an argument the CLI cannot give."""

    name = "needs-arg"

    def __init__(self, width):
        self.width = width

    def start(self, spec, seed):
        pass

    def act(self, step):
        return np.zeros(len(step.new_trial), np.int64)


class StartRaises:
    name = "start-raises"

    def start(self, spec, seed):
        raise RuntimeError("my model file is missing")

    def act(self, step):
        return np.zeros(len(step.new_trial), np.int64)


class ActRaises:
    name = "act-raises"

    def start(self, spec, seed):
        pass

    def act(self, step):
        raise KeyError("hidden")


def amago2_sampling(checkpoint):
    """A trained amago2 checkpoint that samples its actions (the evaluation default is greedy)."""
    from amago_bench.agents.amago2.agent import from_checkpoint

    return from_checkpoint(checkpoint, sample=True)
