"""The figures drawn in painter processes: the same files as drawn in-process, whatever
becomes of the painters."""

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import pytest

from reports import write_report
from reports.html import compute
from reports.painters import NICENESS, Painters
from tests.reports.helpers import write_run
from tests.sweeps.conftest import wait_for

CELLS = {
    ("none", 0.1): [0.80, 0.81, 0.79],
    ("none", 1.0): ["diverged", 0.70, "diverged"],
    ("before_activation", 0.1): [0.82, 0.84, 0.83],
    ("before_activation", 1.0): [0.78, 0.79, 0.77],
}


@pytest.fixture(scope="module")
def drawn_here(tmp_path_factory):
    """A small run and its report with every figure drawn in this process."""
    run = tmp_path_factory.mktemp("painted") / "run"
    write_run(run, CELLS)
    write_report(run, report_dir=run.parent / "here")
    return run, _figures(run.parent / "here")


def _figures(folder):
    return {p.name: p.read_bytes() for p in folder.glob("*.png")}


def _alive(processes) -> list[int]:
    return [p.pid for p in processes if p.poll() is None]


@pytest.mark.parametrize("early", [True, False], ids=["while-computed", "when-written"])
def test_painters_draw_the_same_figures_as_the_report_draws_itself(drawn_here, tmp_path, early):
    run, expected = drawn_here
    painters = Painters()
    started = list(painters.processes)
    assert len(started) == min(2, len(os.sched_getaffinity(0)))
    # Early: started as soon as the figures' frames are computed, before the verdicts.
    frames = compute(run, painters) if early else None
    assert (painters.drawn is not None) == early
    write_report(run, report_dir=tmp_path / "painted", painters=painters, frames=frames)
    assert len(expected) == 6 and _figures(tmp_path / "painted") == expected
    assert _alive(started) == [] and painters.processes == []
    assert sorted(p.returncode for p in started) == [0] * len(started)
    assert not painters._scratch.exists()  # where they drew, removed


@pytest.mark.parametrize("fate", [signal.SIGKILL, signal.SIGTERM], ids=["killed", "SIGTERM"])
def test_a_painter_that_ended_has_its_figures_drawn_here(drawn_here, tmp_path, fate):
    run, expected = drawn_here
    painters = Painters()
    lost = painters.processes[0]
    lost.send_signal(fate)
    assert lost.wait(timeout=120) != 0
    write_report(run, report_dir=tmp_path / "painted", painters=painters)
    assert _figures(tmp_path / "painted") == expected
    assert not list(tmp_path.glob(".painted*"))  # no scraps beside the report


def test_with_no_room_for_the_painters_folder_the_report_draws_itself(
    drawn_here, tmp_path, monkeypatch
):
    run, expected = drawn_here
    painters = Painters()
    started = list(painters.processes)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "gone"))  # mkdtemp fails there
    write_report(run, report_dir=tmp_path / "painted", painters=painters)
    assert _figures(tmp_path / "painted") == expected
    assert [p.returncode for p in started] == [0] * len(started)  # given no work, they ended


def test_ctrl_c_in_the_terminal_leaves_the_painters_to_their_parent(drawn_here, tmp_path):
    run, expected = drawn_here
    painters = Painters()
    started = list(painters.processes)
    for painter in started:  # as a terminal sends it to the whole group, once they run
        wait_for(lambda p=painter: _ignores_sigint(p.pid), 120, "the painter to start")
        painter.send_signal(signal.SIGINT)
    write_report(run, report_dir=tmp_path / "painted", painters=painters)
    assert _figures(tmp_path / "painted") == expected
    assert [p.returncode for p in started] == [0] * len(started)  # they drew


def _ignores_sigint(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status").read_text()
    ignored = int(next(line for line in status.splitlines() if line.startswith("SigIgn:")).split()[1], 16)  # fmt: skip
    return bool(ignored & (1 << (signal.SIGINT - 1)))


def _autogroup_nice(pid: int) -> int | None:
    try:  # "/autogroup-123 nice 10" where Linux groups scheduling by session
        return int(Path(f"/proc/{pid}/autogroup").read_text().split()[-1])
    except FileNotFoundError:
        return None


def test_painters_yield_the_cpu_to_their_parent():
    # Each painter runs in a session of its own; where Linux shares the CPU between sessions
    # first, its niceness alone would not make it yield to the statistics it waits for.
    with Painters() as painters:
        for painter in painters.processes:
            wait_for(lambda pid=painter.pid: _yields(pid), 30, "the painter's lower priority")


def _yields(pid: int) -> bool:
    return psutil.Process(pid).nice() == NICENESS and _autogroup_nice(pid) in (None, NICENESS)


def test_a_painter_given_no_work_ends_when_its_parent_s_pipe_does():
    painters = Painters()
    for painter in painters.processes:
        painter.stdin.close()  # as when the parent dies
    assert [painter.wait(timeout=120) for painter in painters.processes] == [0] * len(
        painters.processes
    )
    painters.close()


def test_painters_of_a_report_that_failed_are_ended_and_leave_nothing(drawn_here, tmp_path):
    run, _ = drawn_here
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("the user's")
    painters = Painters()
    started = list(painters.processes)
    with pytest.raises(Exception, match="not a report written"):
        write_report(run, report_dir=tmp_path / "mine", painters=painters)
    assert _alive(started) == []  # write_report ended them
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["notes.txt"]


ORPHANING = """
import os, signal, sys, time
from reports import drawing, figures
from reports.analysis import figure_inputs
from reports.frames import read_run
from reports.painters import NICENESS, Painters
painters = Painters()
drawn = figures.drawable(figure_inputs(*read_run(sys.argv[1])))
painters.start(drawn)
print(painters._scratch, *[p.pid for p in painters.processes], flush=True)
if sys.argv[2] == "drawn":  # the parent dies once they have drawn every figure
    pngs = [painters._scratch / f"{name}.png" for name in drawing.figure_names(drawn)]
    deadline = time.monotonic() + 120
    while not all(png.is_file() for png in pngs) and time.monotonic() < deadline:
        time.sleep(0.05)
os.kill(os.getpid(), signal.SIGKILL)  # the parent dies before it takes the figures
"""


@pytest.mark.parametrize("when", ["drawing", "drawn"])
def test_painters_whose_parent_was_killed_remove_what_they_drew(drawn_here, when):
    run, _ = drawn_here
    parent = subprocess.run(
        [sys.executable, "-c", ORPHANING, str(run), when],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert parent.returncode == -signal.SIGKILL, parent.stderr[-2000:]
    scratch, *pids = parent.stdout.split()
    assert pids
    wait_for(lambda: not any(psutil.pid_exists(p) and psutil.Process(p).status() != "zombie" for p in map(int, pids)), 120, "the painters to end")  # fmt: skip
    assert not Path(scratch).exists()
