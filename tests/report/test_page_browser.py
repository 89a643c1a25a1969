"""The leaderboard page in a real browser: Debian's chromium driven by Playwright, headless.

Needs ``/usr/bin/chromium`` (scripts/test.sh installs it when run as root) and the
``playwright`` package (the ``dev`` extra). If either is missing the test FAILS and says why.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"


def _browser(p):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (`apt-get install -y chromium`, which "
                    "scripts/test.sh does when run as root); the page's browser test cannot run without it")
    return p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])


def test_page_loads_offline_sorts_shows_figures_and_manifests(synth_report):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the playwright package is missing: pip install -e '.[dev]' (scripts/test.sh does)")
    out, result = synth_report
    page_path = out / "index.html"
    t0 = time.perf_counter()
    with sync_playwright() as p:
        browser = _browser(p)
        page = browser.new_page()
        errors, requests = [], []
        page.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(page_path.as_uri())
        page.wait_for_load_state("load")
        assert errors == []
        assert requests and all(u.startswith(out.as_uri()) for u in requests), \
            [u for u in requests if not u.startswith("file:")]

        # one section per suite with data
        assert page.locator("section.suite h2").all_inner_texts() == ["ml10", "procgen-smoke"]

        # every figure renders
        imgs = page.locator("img")
        n_figs = sum(len(s.figures) for s in result.sections)
        assert imgs.count() == n_figs > 10
        sizes = page.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
        assert all(c and w > 0 and h > 0 for c, w, h in sizes), sizes

        # sorting: the first leaderboard of ml10, by the "seeds" column, then by agent name, by click and by keyboard
        table = page.locator("#suite-ml10 table.sortable").first
        heads = table.locator("thead th").all_inner_texts()

        def column(name):
            i = heads.index(name)
            return table.locator(f"tbody tr td:nth-child({i + 1})").all_inner_texts()

        iqm_name = next(h for h in heads if h.startswith("IQM"))
        before = [float(x.split()[0]) for x in column(iqm_name)]
        assert before == sorted(before, reverse=True)  # rank order
        table.locator("thead th", has_text=iqm_name).locator("button").click()
        after = [float(x.split()[0]) for x in column(iqm_name)]
        assert after == sorted(before) and after != before
        assert table.locator("thead th", has_text=iqm_name).get_attribute("aria-sort") == "ascending"
        table.locator("thead th", has_text=iqm_name).locator("button").click()
        assert [float(x.split()[0]) for x in column(iqm_name)] == sorted(before, reverse=True)
        agent_btn = table.locator("thead th", has_text="agent").first.locator("button")
        agent_btn.focus()
        page.keyboard.press("Enter")
        assert column("agent") == sorted(column("agent"))
        # rows move whole: each row's IQM still belongs to its agent
        rows = dict(zip(column("agent"), column(iqm_name)))
        assert float(rows["amago2"].split()[0]) == max(before)

        # a row's manifest opens and shows the runs behind it
        details = table.locator("tbody tr").first.locator("details")
        assert not details.locator("pre").is_visible()
        details.locator("summary").click()
        assert details.locator("pre").is_visible()
        text = details.locator("pre").inner_text()
        for field in ("agent_config", "suite_hash", "versions", "git_commit", "training budget", "seeds"):
            assert field in text
        assert errors == []
        browser.close()
    print(f"browser test: {time.perf_counter() - t0:.1f} s")

