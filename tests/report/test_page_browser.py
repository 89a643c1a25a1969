"""The leaderboard page in a real browser: Debian's chromium driven by Playwright, headless, at a
1366 x 768 screen.

Needs ``/usr/bin/chromium`` (scripts/test.sh installs it when run as root) and the
``playwright`` package (the ``dev`` extra). If either is missing the test FAILS and says why.
Screenshots of the overview and of one suite go to ``$AMAGO_REPORT_SCREENSHOTS`` when set (to
look at), else to the test's temporary folder.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
SCREEN = {"width": 1366, "height": 768}


def _playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the playwright package is missing: pip install -e '.[dev]' (scripts/test.sh does)")
    return sync_playwright


def _browser(p):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (`apt-get install -y chromium`, which "
                    "scripts/test.sh does when run as root); the page's browser test cannot run without it")
    return p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])


def _shots(tmp_path: Path) -> Path:
    d = Path(os.environ.get("AMAGO_REPORT_SCREENSHOTS") or tmp_path)
    d.mkdir(parents=True, exist_ok=True)
    return d


def _open(browser, page_path: Path):
    page = browser.new_page(viewport=SCREEN)
    errors, requests = [], []
    page.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(page_path.as_uri())
    page.wait_for_load_state("load")
    return page, errors, requests


#: For every main table: how far it reaches past its box and past the screen (px); 0 = fits.
OVERFLOW = """Array.from(document.querySelectorAll('table.main')).map(t => ({
  id: (t.closest('section') || {}).id, wider: t.scrollWidth - t.parentElement.clientWidth,
  right: t.getBoundingClientRect().right - document.documentElement.clientWidth}))"""


def _column(table, heads, name):
    i = heads.index(name)
    return table.locator(f"tbody tr > :nth-child({i + 1})").all_inner_texts()


def test_page_overview_suites_sorting_filter_and_manifests(synth_report, tmp_path):
    out, result = synth_report
    shots = _shots(tmp_path)
    t0 = time.perf_counter()
    with _playwright()() as p:
        browser = _browser(p)
        page, errors, requests = _open(browser, out / "index.html")
        assert errors == []
        assert requests and all(u.startswith(out.as_uri()) for u in requests), \
            [u for u in requests if not u.startswith("file:")]

        # three seeds of a small budget: a leaderboard, no pipeline-check banner
        assert page.locator("#pipeline-banner").count() == 0

        # the overview is on the first screen: one row per agent, one column per suite, headline with its interval
        overview = page.locator("#overview table")
        box = overview.bounding_box()
        assert box["y"] + box["height"] <= SCREEN["height"], box
        heads = overview.locator("thead th").all_inner_texts()
        assert heads == ["agent", "ml10 (test)", "procgen-smoke (test)"]
        agents = _column(overview, heads, "agent")
        assert sorted(agents) == ["amago2", "dep-dep", "random"] and agents[0] == "amago2"
        cell = overview.locator("tbody tr").first.locator("td").first
        assert "[" in cell.inner_text() and cell.locator("a").get_attribute("href") == "#suite-ml10"
        assert "best" in cell.get_attribute("class")  # the suite's best in bold
        page.screenshot(path=str(shots / "overview-1366.png"))

        # nothing needs a horizontal scroll at 1366 px: the page, and every main table inside its box
        assert page.evaluate("document.documentElement.scrollWidth") <= SCREEN["width"]
        over = page.evaluate(OVERFLOW)
        assert len(over) >= 5 and all(o["wider"] <= 0 and o["right"] <= 0 for o in over), over

        # one section per suite with data, its compact leaderboard and two figures in view
        assert page.locator("section.suite h2").all_inner_texts() == ["ml10", "procgen-smoke"]
        page.locator("#overview table tbody tr").first.locator("td a").first.click()
        assert page.evaluate("location.hash") == "#suite-ml10"
        page.screenshot(path=str(shots / "suite-ml10-1366.png"))
        sizes = page.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
        n_figs = sum(len(s.figures) for s in result.sections)
        assert len(sizes) == n_figs > 10 and all(c and w > 0 and h > 0 for c, w, h in sizes), sizes
        assert page.locator("#suite-ml10 > .figs img").count() == 2

        # sorting: the first leaderboard of ml10 by IQM (click) and by agent (keyboard only)
        table = page.locator("#suite-ml10 table.sortable").first
        heads = table.locator("thead th").all_inner_texts()
        iqm = next(h for h in heads if h.startswith("IQM"))
        before = [float(x.split()[0]) for x in _column(table, heads, iqm)]
        assert before == sorted(before, reverse=True)  # rank order
        table.locator("thead th", has_text=iqm).locator("button").click()
        after = [float(x.split()[0]) for x in _column(table, heads, iqm)]
        assert after == sorted(before) and after != before
        assert table.locator("thead th", has_text=iqm).get_attribute("aria-sort") == "ascending"
        page.locator("#filter").focus()
        for _ in range(60):  # Tab from the filter box to the agent header's button
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.closest('table') !== null && "
                             "document.activeElement.closest('section').id === 'suite-ml10' && "
                             "document.activeElement.textContent === 'agent'"):
                break
        else:
            pytest.fail("the agent header's sort button of ml10's leaderboard is not reachable by Tab")
        page.keyboard.press("Enter")
        assert _column(table, heads, "agent") == sorted(_column(table, heads, "agent"))
        page.keyboard.press("Space")
        assert _column(table, heads, "agent") == sorted(_column(table, heads, "agent"), reverse=True)
        rows = dict(zip(_column(table, heads, "agent"), _column(table, heads, iqm)))
        assert float(rows["amago2"].split()[0]) == max(before)  # rows move whole

        # the filter: only matching rows stay, in every table; clearing it brings all back
        page.locator("#filter").fill("random")
        assert overview.locator("tbody tr:visible").all_inner_texts()[0].startswith("random")
        assert overview.locator("tbody tr:visible").count() == 1
        assert "rows match" in page.locator("#filter-count").inner_text()
        page.locator("#filter").fill("")
        assert overview.locator("tbody tr:visible").count() == 3

        # the comparison shows only rows with a reported number until "every row" is opened
        comp = page.locator("#suite-ml10 details", has_text="Measured beside reported").first
        comp.locator("summary").first.click()
        short = comp.locator("table.compare tbody tr")
        assert short.count() >= 1
        assert all("[T]" in r or "[D]" in r for r in short.all_inner_texts())  # each has a reported number
        assert comp.locator("table.compare-all tbody tr").count() > short.count()

        # a row's agent name opens its manifest: readable tables, not JSON
        table.locator("tbody tr th a", has_text="amago2").click()
        manifest = page.locator("#suite-ml10 h4", has_text="amago2").first
        assert manifest.is_visible()
        text = page.locator("#suite-ml10 details", has_text="Manifests").first.inner_text()
        for field in ("training budget", "seeds"):
            assert field in text
        run = page.locator("#suite-ml10 details.inner", has_text="run ").first
        run.locator("summary").click()
        kv = run.locator("table.kv").inner_text()
        for field in ("agent_config", "suite_hash", "versions", "git_commit"):
            assert field in kv
        assert "{\n" not in kv  # not a pretty-printed JSON dump

        # score your own agent: both commands
        submit = page.locator("#submit").inner_text()
        assert "amago-bench evaluate --suite" in submit and "amago-bench report --db" in submit
        assert errors == []
        browser.close()
    print(f"browser test: {time.perf_counter() - t0:.1f} s; screenshots in {shots}")


def test_a_pipeline_check_says_so_on_the_first_screen(smoke_report, tmp_path):
    out, _ = smoke_report
    shots = _shots(tmp_path)
    with _playwright()() as p:
        browser = _browser(p)
        page, errors, _ = _open(browser, out / "index.html")
        banner = page.locator("#pipeline-banner")
        assert banner.is_visible()
        box = banner.bounding_box()
        assert box["y"] < SCREEN["height"] / 2
        text = banner.inner_text()
        assert "Pipeline check" in text and "1 training seed (fewer than 3): ml10" in text
        # one seed: no interval anywhere, said so instead of a zero-width one
        cells = page.locator("#overview table tbody td").all_inner_texts()
        assert cells and all("n/a (1 seed)" in c for c in cells), cells
        page.screenshot(path=str(shots / "smoke-overview-1366.png"))
        assert errors == []
        browser.close()
