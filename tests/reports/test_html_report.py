"""The report page in a real headless Chromium (Debian's), driven by Playwright."""

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from playwright.sync_api import sync_playwright

from reports import write_report
from tests.sweeps.conftest import wait_for

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture(scope="module")
def browser():
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    assert executable, "Debian's chromium is needed: apt-get install chromium"
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


OVERFLOWING = """
() => Array.from(document.querySelectorAll('body *'))
  .filter(e => { const r = e.getBoundingClientRect(); return r.right > innerWidth + 0.5 || r.width > innerWidth; })
  .map(e => e.tagName + (e.id ? '#' + e.id : '') + ' ' + Math.round(e.getBoundingClientRect().right))
"""
EXPORTS = ["history", "trials", "summary", "comparisons", "best_lr", "best_lr_comparisons", "stable_lr", "interaction"]  # fmt: skip


def test_report_opens_from_disk_answer_first_and_fits_the_window(run_copy, browser):
    page_path = write_report(run_copy)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(page_path.as_uri())
    images = page.evaluate(
        "Array.from(document.images).map(i => ({src: i.getAttribute('src'), alt: i.alt,"
        " width: i.naturalWidth, done: i.complete}))"
    )
    assert len(images) == 6
    for image in images:
        assert image["done"] and image["width"] > 0, image
        assert len(image["alt"]) > 20 and not image["src"].startswith("http")
    headings = page.locator("h2").all_inner_texts()
    assert headings[0] == "The answer"
    answer = page.inner_text("#answer")
    # the terminal's three lines first, then the design of the verdicts, then the details
    assert page.locator("#summary-lines li").all_inner_texts()[0].startswith("Placement [")
    assert "Verdicts: each of the 3 comparisons of interest" in answer
    assert "Best placement: " in answer or "No placement is clearly best" in answer
    assert "95% CI" in answer and (
        "better (3 seeds" in answer or "undecided with 3 seeds" in answer
    )
    assert "Largest stable learning rate: " in answer
    assert page.evaluate(OVERFLOWING) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    assert page.locator("table.data").count() == 6  # no problem table: every trial completed
    text = page.inner_text("body")
    assert "python -m sweeps.bn_placement" in text and "statsmodels" in text
    assert "score chance accuracy" in text  # how diverged trials count is on the page
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    for name in EXPORTS:
        assert (page_path.parent / f"{name}.csv").exists()
        assert (page_path.parent / f"{name}.parquet").exists()
    assert not list(page_path.parent.glob(".*.tmp"))  # no temporary file left behind


def test_a_narrow_window_does_not_overflow_either(run_copy, browser):
    page = browser.new_page(viewport={"width": 800, "height": 900})
    page.goto(write_report(run_copy).as_uri())
    assert page.evaluate(OVERFLOWING) == []


def test_partial_run_report_lists_unfinished_trials(run_copy, browser):
    trial = sorted(p for p in run_copy.iterdir() if (p / "result.json").exists())[0]
    lines = (trial / "result.json").read_text().splitlines()
    (trial / "result.json").write_text(lines[0] + "\n")
    done = subprocess.run(
        [sys.executable, "-m", "reports", str(run_copy)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    where, *summary = done.stdout.splitlines()
    assert where == f"report: {(run_copy / 'report' / 'index.html').resolve()}"
    assert [line.split(" [")[0].split(":")[0] for line in summary] == [
        "  Placement", "  Learning rate", "  Largest stable lr",
    ]  # fmt: skip
    page = browser.new_page()
    page.goto((run_copy / "report" / "index.html").as_uri())
    assert "running" in page.inner_text("#problems + .table-box")


def test_report_cli_rejects_a_folder_without_a_sweep(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "reports", str(tmp_path)], capture_output=True, text=True
    )
    assert done.returncode == 2 and "holds no sweep" in done.stderr
    assert not (tmp_path / "report").exists()


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl+c", "SIGTERM"])
def test_a_report_stopped_while_written_leaves_the_previous_one_whole_and_no_scraps(run_copy, stop):  # fmt: skip
    write_report(run_copy)
    before = {p.name: p.read_bytes() for p in (run_copy / "report").iterdir()}
    writer = subprocess.Popen(
        [sys.executable, "-m", "reports", str(run_copy)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_for(lambda: list(run_copy.glob(".report.new-*")), 120, "the new report's folder")
        painters = psutil.Process(writer.pid).children()  # started before the statistics
        writer.send_signal(stop)
        _, err = writer.communicate(timeout=60)
    finally:
        writer.kill()
    assert writer.returncode == 130 and "the previous report is as it was" in err
    assert painters and not [p.pid for p in painters if p.is_running() and p.status() != "zombie"]
    assert not list(run_copy.glob(".report.*"))
    assert {p.name: p.read_bytes() for p in (run_copy / "report").iterdir()} == before


@pytest.mark.slow  # a 10,000-trial report: about 85 s of a core here
def test_a_report_of_10000_trials_fits_the_window_and_caps_its_tables(tmp_path, browser):
    """The sweep's largest grid (40 contexts, 23 seeds): figures no wider than the page, long
    tables cut at MAX_ROWS with a link to their CSV, nothing wider than the window."""
    from benchmarks.synthetic_run import write_run
    from reports.tables import MAX_ROWS

    page_path = write_report(write_run(tmp_path / "run", 10_000), report_dir=tmp_path / "report")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(page_path.as_uri())
    assert page.evaluate(OVERFLOWING) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    widths = page.evaluate("Array.from(document.images).map(i => i.naturalWidth)")
    column = page.evaluate("document.querySelector('#figures').getBoundingClientRect().width")
    assert len(widths) == 6 and max(widths) <= column  # shown at their own size, not shrunk
    captions = page.locator("figcaption").all_inner_texts()
    assert all("Showing 4 of 40 settings" in caption for caption in captions)
    rows = page.evaluate(
        "Array.from(document.querySelectorAll('table.data')).map(t => t.tBodies[0].rows.length)"
    )
    assert max(rows) == MAX_ROWS
    notes = page.locator(".table-note").all_inner_texts()
    assert notes and all(note.endswith(".csv.") for note in notes)
    assert "The first 200 of 600 rows" in page.inner_text("#comparisons + .table-box")
