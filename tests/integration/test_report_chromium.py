"""The report renders in headless Chromium: every figure drawn, no console errors, a screenshot kept."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import pytest

from circuits.report import Report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parents[2] / "out" / "test-artifacts"

PROBE = """<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(String(e.message)));
const __consoleError = console.error;
console.error = (...args) => { window.__errors.push(args.join(' ')); __consoleError(...args); };
window.addEventListener('load', () => setTimeout(() => {
  const probe = document.createElement('pre');
  probe.id = 'probe';
  probe.textContent = JSON.stringify({
    errors: window.__errors,
    rendered: document.querySelectorAll('.figure .js-plotly-plot .main-svg').length > 0
      ? Array.from(document.querySelectorAll('.figure')).filter(f => f.querySelector('.main-svg')).length : 0,
    figures: document.querySelectorAll('.figure').length,
  });
  document.body.appendChild(probe);
}, 500));
</script>"""


def chromium(*args: str) -> subprocess.CompletedProcess:
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian package 'chromium')")
def test_report_renders_every_figure_without_console_errors(tmp_path):
    report = Report("Rendering check")
    report.add_figure("Heatmap", go.Figure(go.Heatmap(z=[[0.1, 0.9], [0.4, 0.2]])))
    report.add_figure("Bars", go.Figure(go.Bar(x=["L0H1", "L1H0"], y=[0.5, -0.2])))
    report.add_table("Top heads", pd.DataFrame({"head": ["L0H1"], "score": [0.9]}))
    page = report.render().replace("<head>", "<head>" + PROBE, 1)
    path = tmp_path / "report.html"
    path.write_text(page)
    profile = tmp_path / "profile"
    result = chromium(f"--user-data-dir={profile}", "--virtual-time-budget=5000", "--dump-dom", path.as_uri())
    match = re.search(r'<pre id="probe">(.*?)</pre>', result.stdout, re.S)
    assert match, f"the page did not finish loading: {result.stderr[-2000:]}"
    probe = json.loads(match.group(1).replace("&quot;", '"'))
    assert probe["errors"] == []
    assert probe["figures"] == 2 and probe["rendered"] == 2
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "report.png"
    chromium(f"--user-data-dir={profile}", "--window-size=1200,1400", f"--screenshot={shot}", path.as_uri())
    assert shot.is_file() and shot.stat().st_size > 10_000
