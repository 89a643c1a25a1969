"""Adapters that turn policies from other libraries into agents of the harness's protocol.

* :mod:`amago_bench.adapters.sb3` - anything with Stable-Baselines3's ``predict`` (PPO,
  RecurrentPPO, ...), loadable from the CLI as ``--agent amago_bench.adapters.sb3:load
  --checkpoint model.zip``.

Importing this package imports no third-party library; each adapter imports its library
when it loads a model.
"""
