"""report.html in a real browser (headless Chromium): every image loads, every link of the page resolves
to an element, no console error; a screenshot of the first screen is saved for a person to look at.

Slow (a real run and a browser start); run with ``pytest -m slow tests/test_report_browser.py``. Skipped
with the reason when Chromium is absent (Debian/Ubuntu: ``apt-get install -y chromium``). Set
``OPDCHECK_SCREENSHOT=path.png`` to keep the screenshot.
"""
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from opdcheck.cli import EXIT_OK, main

CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser", shutil.which("chromium") or "")
                 if p and Path(p).exists()), None)

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (/usr/bin/chromium); "
                                                          "install it with `apt-get install -y chromium`")]

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-extensions", "--no-first-run", "--allow-file-access-from-files"]

#: appended to a copy of the page: the browser itself reports what it rendered, into the dumped DOM
PROBE = """
<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(String(e.message || e.type)), true);
window.addEventListener('load', () => {
  const imgs = Array.from(document.images);
  const broken = imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt || i.src.slice(0, 40));
  const links = Array.from(document.querySelectorAll('a[href^="#"]')).map(a => a.getAttribute('href').slice(1));
  const dangling = links.filter(id => !document.getElementById(id));
  const pre = document.createElement('pre');
  pre.id = 'browser-probe';
  pre.textContent = JSON.stringify({images: imgs.length, broken, links: links.length, dangling,
                                    errors: window.__errors, details: document.querySelectorAll('details').length,
                                    title: document.title});
  document.body.appendChild(pre);
});
</script>
"""


def _chromium(*args: str, timeout: int = 180) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("browser") / "report"
    # a CONFIRMED with figures (fig-1-toy), an INCONSISTENT (dual-step-scale), a REFUTED with a replayed witness
    # (lemmas-B.2-B.4-B.8: Lemma B.4 at the proof's delta)
    assert main(["run", "fig-1-toy", "dual-step-scale", "lemmas-B.2-B.4-B.8", "--out", str(out), "--quiet"]) == EXIT_OK
    return out


def test_report_renders_in_chromium(report, tmp_path):
    page = (report / "report.html").read_text()
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", PROBE + "</body>"))
    res = _chromium("--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000", "--dump-dom", probe.as_uri())
    m = re.search(r'<pre id="browser-probe">(.*?)</pre>', res.stdout, re.S)
    assert m, f"the page did not finish loading in Chromium: {res.stderr[-2000:]}"
    got = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))
    assert got["images"] >= 1 and got["broken"] == [], got
    assert got["links"] >= 3 and got["dangling"] == [], got
    assert got["errors"] == [], got
    assert got["details"] >= 3 and got["title"].startswith("opdcheck report")
    console_errors = [line for line in res.stderr.splitlines()
                      if "CONSOLE" in line and ("Uncaught" in line or ":ERROR:" in line or "error" in line.lower())]
    assert console_errors == [], console_errors


def test_unmodified_page_dumps_and_screenshots(report, tmp_path):
    page = report / "report.html"
    res = _chromium("--dump-dom", page.as_uri())
    assert res.returncode == 0 and 'id="verdicts"' in res.stdout
    # the first screen is the verdict table, failing claims first
    first_rows = re.findall(r'<span class="v v-(\w+)">', res.stdout)[:3]
    assert first_rows[0] == "REFUTED", first_rows
    shot = Path(os.environ.get("OPDCHECK_SCREENSHOT") or tmp_path / "report.png")
    res = _chromium("--window-size=1280,1000", f"--screenshot={shot}", page.as_uri())
    assert shot.exists() and shot.stat().st_size > 10_000, res.stderr[-2000:]
