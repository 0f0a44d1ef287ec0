"""The example notebook, executed end to end by a real Jupyter kernel, on a subset (the same
code paths): no error, nothing on stderr, the answer and the figures in its outputs."""

import nbformat
import pytest
from nbclient import NotebookClient

from tests.sweeps.conftest import ROOT

NOTEBOOK = ROOT / "examples" / "bn_placement.ipynb"


@pytest.mark.shared_ray
@pytest.mark.slow
def test_the_example_notebook_runs_clean(monkeypatch):
    monkeypatch.setenv("BNLAB_EXAMPLE_SMALL", "1")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        notebook, timeout=600, kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    ).execute()  # fmt: skip
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    streams = [o for o in outputs if o.output_type == "stream"]
    assert [o.text for o in streams if o.name == "stderr"] == []
    assert not [o for o in outputs if o.output_type == "error"]
    shown = [o for o in outputs if o.output_type in ("execute_result", "display_data")]
    pictures = [o for o in shown if "image/png" in o.data]
    assert len(pictures) >= 3  # the learning curves and the sweep's two figures
    html = " ".join(o.data.get("text/html", "") for o in shown)
    assert html.count("<strong>Study") == 2 and "Placement [" in html
    text = " ".join(o.text for o in streams)
    assert "270,946 parameters (2,368 non-trainable)" in text
    assert "266,610 parameters" in text
