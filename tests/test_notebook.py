"""The example notebook, executed end to end by a real Jupyter kernel, on a subset (the same
code paths): no error, nothing on stderr, the answer and the figures in its outputs.

The kernel is this Python's, from a kernel spec of the test's own (`JUPYTER_PATH`): the kernel
named `python3` is whatever the machine's Jupyter registry says, perhaps another environment
without this checkout."""

import json
import sys

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from tests.sweeps.conftest import ROOT

NOTEBOOK = ROOT / "examples" / "bn_placement.ipynb"
KERNEL = "bnlab-test-python"


def _kernel_of_this_python(folder) -> str:
    spec = folder / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": KERNEL, "language": "python"}))  # fmt: skip
    return str(folder)


def _streams(notebook) -> str:
    cells = [c for c in notebook.cells if c.cell_type == "code"]
    return "".join(o.get("text", "") for c in cells for o in c.get("outputs", []))


# An embedded Ray, as a notebook user's `sweeps.run` starts (not the tests' shared cluster).
@pytest.mark.slow
def test_the_example_notebook_runs_clean(monkeypatch, tmp_path):
    monkeypatch.setenv("BNLAB_EXAMPLE_SMALL", "1")
    monkeypatch.setenv("JUPYTER_PATH", _kernel_of_this_python(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # this checkout, whatever is installed
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    which = "import sys, bnlab; print(sys.executable, bnlab.__file__)"
    notebook.cells.append(nbformat.v4.new_code_cell(which))
    client = NotebookClient(
        notebook, timeout=600, kernel_name=KERNEL,
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )  # fmt: skip
    try:
        client.execute()
    except CellExecutionError as err:  # what the cells before it printed says why
        pytest.fail(f"{err}\n\nthe cells' printed output before it:\n{_streams(notebook)[-6000:]}")
    executable, package = notebook.cells[-1].outputs[0].text.split()
    assert executable == sys.executable and package.startswith(str(ROOT))
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    streams = [o for o in outputs if o.output_type == "stream"]
    assert [o.text for o in streams if o.name == "stderr"] == []
    assert not [o for o in outputs if o.output_type == "error"]
    shown = [o for o in outputs if o.output_type in ("execute_result", "display_data")]
    pictures = [o for o in shown if "image/png" in o.data]
    assert len(pictures) >= 3  # the learning curves and the sweep's two figures
    html = " ".join(o.data.get("text/html", "") for o in shown)
    assert html.count("<strong>Study") == 3 and "Placement [" in html  # sweep, own, stored
    text = " ".join(o.text for o in streams)
    assert "270,946 parameters (2,368 non-trainable)" in text
    assert "266,610 parameters" in text
