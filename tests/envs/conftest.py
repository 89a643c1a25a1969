"""Shared env fixtures: one Meta-World goal cache per test session (ML45 takes ~30 s to build)."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def metaworld_cache(tmp_path_factory):
    """Point the Meta-World goal cache at a fresh folder for the whole session.

    A fresh folder keeps tests independent of a user's ~/.cache and makes the first use of
    each benchmark really build it; later uses in the session hit the in-process cache.
    """
    pytest.importorskip("metaworld")
    path = tmp_path_factory.mktemp("metaworld-cache")
    old = os.environ.get("AMAGO_BENCH_CACHE")
    os.environ["AMAGO_BENCH_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("AMAGO_BENCH_CACHE", None)
    else:
        os.environ["AMAGO_BENCH_CACHE"] = old


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
