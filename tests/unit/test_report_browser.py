"""The run's HTML report as a reader sees it: opened in headless chromium (installed with apt when
missing, as root), its rendered DOM shows the tiers and their counts, and a screenshot of it is kept as
an artifact, ``reports/report-screenshot.png``."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from PIL import Image

from support import chromium as chromium_module
from support.chromium import headless, install_chromium
from support.docker_host import InstallError
from support.processes import RunId, processes_of
from support.report_html import write_report
from tests.unit.report_fixtures import write_reports
from tests.unit.report_table import table_rows

WIDTH, HEIGHT = 1280, 1600
SCREENSHOT = "report-screenshot.png"


@pytest.fixture(scope="module")
def chromium() -> str:
    try:
        return install_chromium()
    except InstallError as exc:
        pytest.skip(str(exc))


@pytest.fixture
def report_url(tmp_path: Path) -> str:
    return write_report(write_reports(tmp_path / "reports")).resolve().as_uri()


def test_the_rendered_report_shows_the_tiers_and_their_counts(chromium: str, report_url: str) -> None:
    run = headless(chromium, report_url, "--dump-dom")
    assert run.exit_code == 0, run.describe()
    dom = run.stdout
    # tier, verdict, tests, passed, failed, skipped, reruns
    assert [row[:7] for row in table_rows(dom, "tiers")] == [
        ["full-process-standin", "failed", "3", "2", "1", "0", "1"],
        ["smoke", "passed", "4", "3", "0", "1", "0"],
    ], run.describe()
    assert "1 of 2 cells passed; 2 tiers: 5 passed, 1 failed, 1 skipped" in dom
    assert dom.count("<svg") == 3  # the plots rendered inline


def test_a_screenshot_of_the_report_is_kept(
    chromium: str, report_url: str, pytestconfig: pytest.Config, tmp_path: Path
) -> None:
    reports = Path(pytestconfig.getoption("e2e_reports"))
    reports = reports if reports.is_absolute() else pytestconfig.rootpath / reports
    reports.mkdir(parents=True, exist_ok=True)
    shot = reports / SCREENSHOT
    shot.unlink(missing_ok=True)
    run = headless(chromium, report_url, f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}")
    assert run.exit_code == 0 and shot.is_file(), run.describe()
    with Image.open(shot) as image:
        assert image.format == "PNG"
        assert image.size == (WIDTH, HEIGHT)
        grey = image.convert("L")
        histogram = grey.histogram()
    # not blank: a white page with dark text, coloured counts and plots on it
    dark = sum(histogram[:128])
    assert histogram[255] > WIDTH * HEIGHT // 4, "the page's white background is not there"
    assert dark > WIDTH * HEIGHT // 200, f"only {dark} dark pixels: nothing rendered on the page"


def test_a_browser_past_its_timeout_is_killed_with_everything_it_started(chromium: str, report_url: str) -> None:
    with pytest.raises(subprocess.TimeoutExpired):
        headless(chromium, report_url, "--dump-dom", "--virtual-time-budget=600000", timeout=0.5)
    assert processes_of(RunId.for_process(tag="chromium")) == []


def test_without_chromium_and_root_the_skip_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chromium_module, "find_chromium", lambda: None)
    monkeypatch.setattr(chromium_module.os, "geteuid", lambda: 1000)
    with pytest.raises(InstallError) as raised:
        install_chromium()
    message = str(raised.value)
    assert message.startswith("Missing: chromium (headless browser): no chromium on PATH, and installing needs root")
    for part in (
        "\nNeeded by: ",
        "\nProvide it:\n",
        "apt-get install -y --no-install-recommends chromium",
        "\nWithout it: ",
    ):
        assert part in message
