"""Every generated report opened in a real browser (Debian's chromium, headless, driven by Playwright):
no JavaScript error (console or uncaught), no broken image, no network request (the page is
self-contained), every figure that has data rendered as a plot, hover works. A full-page screenshot
is kept under the test's tmp directory. CI installs chromium (.ci/run); without it this test fails."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.report_outputs import (
    as_older_output,
    categorical_sweep_dir,
    numeric_sweep_dir,
    optimize_dir,
    run_dir,
    sensitivity_dir,
    two_press_data,
)
from twin.report import build_report

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage"]
RENDER_TIMEOUT_MS = 60_000


def _bare(d: Path) -> Path:
    data = two_press_data()
    del data["cost"]
    as_older_output(run_dir(d, data))
    (d / "trace.sqlite").unlink()
    return d


BUILDERS = {
    "run-with-every-record": run_dir,
    "run-without-optional-records": _bare,
    "sweep-numeric": numeric_sweep_dir,
    "sweep-categorical": categorical_sweep_dir,
    "optimize-pareto": optimize_dir,
    "sensitivity-morris": sensitivity_dir,
    "sensitivity-sobol": lambda d: sensitivity_dir(d, "sobol"),
}


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    path = shutil.which(CHROMIUM) or CHROMIUM
    if not Path(path).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: apt-get install -y chromium chromium-driver (CI does this in .ci/run)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=path, args=ARGS, timeout=RENDER_TIMEOUT_MS)
        yield b
        b.close()


@dataclass
class Observed:
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    broken_images: int = 0
    rendered: list = field(default_factory=list)
    hovered: bool = False


def observe(browser, path: Path, plots: list[str], screenshot: Path) -> Observed:
    """Open a page headless with the network cut off, wait for the plots, and record what went wrong."""
    seen = Observed()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.on("console", lambda m: seen.errors.append(f"console {m.type}: {m.text}")
            if m.type in ("error", "assert") else None)
    page.on("pageerror", lambda e: seen.errors.append(f"page error: {e}"))

    def route(r):
        url = r.request.url
        if url.startswith(("file:", "data:", "blob:", "about:")):
            r.continue_()
        else:
            seen.requests.append(url)
            r.abort()

    context.route("**/*", route)
    try:
        page.goto(path.as_uri(), wait_until="load", timeout=RENDER_TIMEOUT_MS)
        page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {len(plots)}",
                               timeout=RENDER_TIMEOUT_MS)
        seen.rendered = page.evaluate("""() => [...document.querySelectorAll('figure[data-plotted="1"]')].map(f => {
            const svg = f.querySelector('.js-plotly-plot .main-svg');
            const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
            return [f.id, box.width, box.height, f.querySelectorAll('.trace, .point, .bars, .box').length];
        })""")
        seen.broken_images = page.evaluate("[...document.images].filter(i => !i.complete || i.naturalWidth === 0)"
                                           ".length")
        seen.hovered = hover_shows_a_label(page, plots)
        page.screenshot(path=str(screenshot), full_page=True)
    finally:
        context.close()
    return seen


@pytest.mark.timeout(240)
@pytest.mark.parametrize("which", list(BUILDERS))
def test_report_renders_in_chromium_without_errors(which, browser, tmp_path):
    report = build_report(BUILDERS[which](tmp_path / which))
    assert report.failed == []
    shot = tmp_path / f"{which}.png"
    seen = observe(browser, report.path, [f.name for f in report.plotted], shot)
    assert seen.errors == []
    assert seen.requests == [], "the report reached for the network"
    assert seen.broken_images == 0
    assert len(seen.rendered) == len(report.plotted)
    for fig_id, width, height, marks in seen.rendered:
        assert width > 200 and height > 150, (fig_id, width, height)
        assert marks > 0, f"{fig_id}: rendered without any trace"
    assert seen.hovered, "no hover label appeared over any data mark"
    assert shot.stat().st_size > 10_000


@pytest.mark.timeout(120)
def test_the_browser_check_sees_script_errors_network_and_broken_images(browser, tmp_path):
    """The harness itself: a page with a failing script, an outside request and a broken image is caught."""
    page = tmp_path / "bad.html"
    page.write_text("<html><body><div class='js-plotly-plot'><svg class='main-svg'></svg></div>"
                    "<img src='missing.png'><img src='http://127.0.0.1:9/x.png'>"
                    "<script>console.error('boom'); undefined_function();</script></body></html>")
    seen = observe(browser, page, [], tmp_path / "bad.png")
    assert any("boom" in e for e in seen.errors) and any("undefined_function" in e for e in seen.errors)
    assert seen.requests == ["http://127.0.0.1:9/x.png"]
    assert seen.broken_images == 2


def hover_shows_a_label(page, names: list[str]) -> bool:
    """Move the mouse onto a data mark (bar, point, box) of a plot and wait for plotly's hover label."""
    for name in names:
        mark = page.query_selector(f"#plot-{name} .bars path, #plot-{name} .point, #plot-{name} .box path")
        if mark is None:
            continue
        mark.scroll_into_view_if_needed()
        box = mark.bounding_box()
        if not box or box["width"] < 1 or box["height"] < 1:
            continue
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        try:
            page.wait_for_selector(f"#plot-{name} .hoverlayer .hovertext", timeout=5_000)
            return True
        except Exception:  # noqa: BLE001 - try the next plot
            continue
    return False
