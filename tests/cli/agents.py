"""Misbehaving agents for CLI tests (loaded as tests.cli.agents:NAME)."""

import numpy as np


class NaNAgent:
    name = "nan-agent"

    def start(self, spec, seed):
        self.n = spec.num_envs

    def act(self, step):
        return np.full(self.n, np.nan)
