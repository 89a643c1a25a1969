"""Shared test configuration: the `slow` marker runs only with --runslow or RUN_SLOW=1; the
`cuda` marker only where torch sees a CUDA GPU (scripts/gpu-check.sh runs them)."""

from __future__ import annotations

import os

import pytest


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="also run tests marked slow")


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def pytest_collection_modifyitems(config, items):
    if any(item.get_closest_marker("cuda") for item in items) and not _cuda_available():
        no_gpu = pytest.mark.skip(reason="cuda: needs a CUDA GPU (run scripts/gpu-check.sh on a GPU machine)")
        for item in items:
            if item.get_closest_marker("cuda"):
                item.add_marker(no_gpu)
    if config.getoption("--runslow") or os.environ.get("RUN_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow or RUN_SLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


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
