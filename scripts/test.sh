#!/usr/bin/env bash
# Set up, then run the test suite. Extra arguments go to pytest (e.g. -k store, --runslow).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh"
cd "$ROOT"
# The leaderboard page's browser test drives Debian's chromium (tests/report/test_page_browser.py);
# without it that test fails and says why.
if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
        echo "installing Debian's chromium for the browser test (apt-get)"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
            || echo "warning: apt-get could not install chromium; the browser test will fail" >&2
    else
        echo "warning: /usr/bin/chromium is missing and this is not root: install Debian's chromium, or the browser test fails" >&2
    fi
fi
# The report's LaTeX tables are compiled by tests/report/test_tables.py with pdflatex: the two
# smallest Debian TeX Live packages that hold it, booktabs and longtable (about 80 MB, no docs).
if ! command -v pdflatex >/dev/null; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
        echo "installing pdflatex for the LaTeX table test (apt-get: texlive-latex-base, texlive-latex-recommended)"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            texlive-latex-base texlive-latex-recommended >/dev/null \
            || echo "warning: apt-get could not install TeX Live; the LaTeX table test will fail" >&2
    else
        echo "warning: pdflatex is missing and this is not root: install texlive-latex-base and texlive-latex-recommended, or the LaTeX table test fails" >&2
    fi
fi
exec python -m pytest -q "$@"
