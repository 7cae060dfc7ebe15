"""The default ``swarm-tui compare`` (30 seeds): the Done-when command, and the README quoting it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from support import ROOT, cli_env

from swarm_tui.compare.writers import readme_section


def test_the_default_compare_and_the_readme_agree(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "swarm_tui", "compare", "--export", "report.html", "--export", "report.json"],
        capture_output=True,
        text=True,
        env=cli_env(),
        cwd=tmp_path,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["units"] == {"planned": 300, "finished": 300, "errors": []}
    assert (tmp_path / "report.html").stat().st_size > 1_000_000  # plotly.js inlined
    # Every recommendation rests on significant differences only.
    tests = report["differences"]
    for rec in report["recommendations"]:
        for finding in rec["findings"]:
            for worse in finding.get("worse", []):
                best = finding["best"][0]
                match = [t for t in tests if t["metric"] == finding["metric"] and {t["a"], t["b"]} == {best, worse}]
                assert match and match[0]["significant"], (finding, match)
    # The README quotes exactly what this command measured (mock runs are deterministic per seed).
    readme = (ROOT / "README.md").read_text()
    assert readme_section(report) in readme, "README's compare figures are stale: paste readme_section(report)"
