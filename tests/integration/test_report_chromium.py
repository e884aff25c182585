"""The report renders in headless Chromium: every figure drawn, no console errors, a screenshot kept."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from circuits.cli import main as cli

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
    titles: Array.from(document.querySelectorAll('.figure')).map(f => {
      const text = sel => Array.from(f.querySelectorAll(sel)).map(e => e.textContent.trim());
      return {
        title: text('.gtitle').join(' '),
        colorbars: f.querySelectorAll('.colorbar').length,
        colorbar_titles: text('.colorbar .cbtitle').filter(t => t),
        bars: f.querySelectorAll('.bars .point').length,
        bar_labels: text('.bars .bartext').filter(t => t).length,
        y_titles: text('.ytitle'),
      };
    }),
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


SECTIONS = (
    "Model and provenance",
    "Head scores",
    "Top heads",
    "Ablations with random-head controls",
    "Activation patching: induction",
    "Attention patterns of the top heads",
)


@pytest.fixture(scope="module")
def heads_report_page(tmp_path_factory):
    """The report ``interp heads --report`` writes for the organism."""
    out = tmp_path_factory.mktemp("heads")
    args = [
        "heads",
        "zoo:organism",
        "--device",
        "cpu",
        "--out",
        str(out),
        "--report",
        str(out / "heads.html"),
    ]
    assert cli.main(args) == 0
    return (out / "heads.html").read_text()


def test_the_heads_report_has_every_section(heads_report_page):
    missing = [title for title in SECTIONS if title not in heads_report_page]
    assert not missing, f"sections missing from the report: {missing}"
    # The organism has no duplicate-token head, so no attention figure claims one.
    assert "duplicate_token: attention of" not in heads_report_page
    assert "induction: attention of L1H2, its top head" in heads_report_page
    assert (
        "attention to operands 0.08 &lt; 0.3" in heads_report_page
    )  # why arithmetic's top scorer is no head
    assert not re.search(r'<(script|link)[^>]+(src|href)="https?://', heads_report_page), (
        "loads from the network"
    )


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian package 'chromium')")
def test_report_renders_every_figure_without_console_errors(heads_report_page, tmp_path):
    page = heads_report_page.replace("<head>", "<head>" + PROBE, 1)
    path = tmp_path / "report.html"
    path.write_text(page)
    profile = tmp_path / "profile"
    result = chromium(f"--user-data-dir={profile}", "--virtual-time-budget=8000", "--dump-dom", path.as_uri())
    match = re.search(r'<pre id="probe">(.*?)</pre>', result.stdout, re.S)
    assert match, f"the page did not finish loading: {result.stderr[-2000:]}"
    probe = json.loads(match.group(1).replace("&quot;", '"'))
    assert probe["errors"] == []
    assert probe["figures"] >= 6 and probe["rendered"] == probe["figures"], probe
    titles = [figure["title"] for figure in probe["titles"]]
    assert all(titles) and len(set(titles)) == len(titles), titles  # every figure titled, no two alike
    for figure in probe["titles"]:
        assert len(figure["colorbar_titles"]) == figure["colorbars"], figure  # every colour bar says what
        assert figure["bar_labels"] == figure["bars"], figure  # every bar shows its value
        assert "metric" not in figure["y_titles"], figure
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "report.png"
    chromium(f"--user-data-dir={profile}", "--window-size=1200,1400", f"--screenshot={shot}", path.as_uri())
    assert shot.is_file() and shot.stat().st_size > 10_000
