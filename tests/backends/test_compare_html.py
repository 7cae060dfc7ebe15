"""The HTML reports open in headless Chromium and their charts are drawn (not only written)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from compare_support import small

from swarm_tui.compare.compare import Comparison
from swarm_tui.compare.html import to_html
from swarm_tui.results.export import write_export
from swarm_tui.results.model import RunResult
from swarm_tui.results.timeline import Timeline

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]

needs_chromium = pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="Debian's chromium is not installed")


def rendered_charts(page_path: Path) -> tuple[int, int, list[str]]:
    """(plotly divs, divs with a drawn SVG and at least one trace, console errors) of a page."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            # Offline: any request that leaves the file would fail the page (no CDN).
            page.route("http*://**", lambda route: (errors.append(route.request.url), route.abort()))
            page.goto(page_path.as_uri())
            page.wait_for_function(
                "document.querySelectorAll('.js-plotly-plot').length > 0 && "
                "[...document.querySelectorAll('.js-plotly-plot')].every(d => d.querySelector('.main-svg'))",
                timeout=30000,
            )
            divs = page.locator(".js-plotly-plot").count()
            drawn = page.evaluate(
                "[...document.querySelectorAll('.js-plotly-plot')]"
                ".filter(d => d.querySelector('.main-svg') && d.querySelectorAll('.trace').length > 0).length"
            )
        finally:
            browser.close()
    return divs, int(drawn), errors


@needs_chromium
def test_the_compare_report_draws_its_charts(tmp_path: Path) -> None:
    report = Comparison(small(), [0, 1]).run()
    page = tmp_path / "report.html"
    page.write_text(to_html(report), encoding="utf-8")
    assert 'src="http' not in page.read_text()  # plotly.js is inlined, not fetched
    divs, drawn, errors = rendered_charts(page)
    assert divs == 5  # distributions, latency against load, availability, rollouts, rollout weights
    assert drawn == divs
    assert errors == []


@needs_chromium
def test_the_run_report_draws_each_scenarios_time_series(tmp_path: Path) -> None:
    from support import scenario

    from swarm_tui.engine.runner import run_one
    from swarm_tui.engine.sandbox import create_backend

    timeline = Timeline()
    results = []
    for sid in ("mesh.failover", "canary.rollout"):
        results.append(
            run_one(scenario(sid), create_backend("mock", seed=0), seed=0, run_id="t", subscribers=[timeline])
        )
    result = RunResult(run_id="t", backend="mock", seed=0, started_at="", scenarios=results)
    page = tmp_path / "run.html"
    write_export(result, page, timeline)
    series = {s.scenario: s.to_dict() for s in timeline.series}
    assert max(series["mesh.failover"]["agents"]) == 4 and sum(series["mesh.failover"]["load"]) > 100
    assert series["canary.rollout"]["weights"]  # the rollout's weights as they changed
    divs, drawn, errors = rendered_charts(page)
    assert divs == drawn == 2
    assert errors == []
