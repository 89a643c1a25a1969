"""Shared env fixtures: the Meta-World goal lists of the session (ML45 takes ~30 s to build; the cache
folder, ``metaworld_cache``, is in tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def ml45_goals(metaworld_cache):
    """The one ML45 benchmark instance (goal lists) of the session, built once (~30 s)."""
    from amago_bench.envs.metaworld import goal_lists
    from amago_bench.suite import get_suite

    spec = get_suite("ml45")
    return goal_lists(spec.options["benchmark"], spec.options["benchmark_seed"])


@pytest.fixture(scope="session")
def ml10_goals(metaworld_cache):
    from amago_bench.envs.metaworld import goal_lists
    from amago_bench.suite import get_suite

    spec = get_suite("ml10")
    return goal_lists(spec.options["benchmark"], spec.options["benchmark_seed"])
