"""amago-bench: multi-task and meta-RL benchmark harness.

Importing the package registers every shipped suite and task with Gymnasium
(``gym.make("amago_bench/<suite>-v0")``, ``gym.make("amago_bench/<suite>.<task>-v0")``; see
:mod:`amago_bench.gym_ids`) without importing gymnasium itself until it is needed.
"""

from amago_bench import gym_ids as _gym_ids

_gym_ids.install()
