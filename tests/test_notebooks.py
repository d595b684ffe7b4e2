"""Every notebook in notebooks/ runs from top to bottom in a fresh kernel without an error or a
Python warning (at most 120 s per cell), in its quick mode (`DESCENT_QUICK=1`: fewer epochs,
seeds and sizes; the figures saved with the notebooks come from the full mode)."""

import pathlib
import re
import sys

import nbformat
import pytest
from ipykernel.kernelspec import write_kernel_spec
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient

NOTEBOOK_DIR = pathlib.Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
WARNING = re.compile(r"\b\w*Warning\b:")  # how Python prints a warning: "...: UserWarning: ..."


@pytest.fixture(scope="module")
def jupyter_path(tmp_path_factory):
    """A directory holding a "python3" kernel spec that runs this very interpreter.

    Put first on JUPYTER_PATH, it wins over any other "python3" kernel installed for the user or
    the system, so the notebooks run with the packages under test.
    """
    root = tmp_path_factory.mktemp("jupyter")
    write_kernel_spec(root / "kernels" / "python3")
    return root


def test_the_notebooks_are_there():
    assert [path.name for path in NOTEBOOKS] == [
        "01_learning_rate_regimes.ipynb",
        "02_optimizers_on_landscapes.ipynb",
        "03_training_on_digits.ipynb",
        "04_schedules_and_ensembles.ipynb",
        "05_second_order.ipynb",
        "06_initialization_losses_and_batches.ipynb",
    ]
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        # Saved with their outputs (so that they render as they are), and small.
        images = [output for cell in notebook.cells for output in cell.get("outputs", [])
                  if "image/png" in output.get("data", {})]
        assert images, f"{path.name} was saved without its figures"
        assert path.stat().st_size < 1_500_000


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_runs(path, jupyter_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter_path))
    monkeypatch.setenv("DESCENT_QUICK", "1")  # the kernel inherits this process's environment
    # The kernel's own inline backend (it renders with Agg; nothing is displayed).
    monkeypatch.delenv("MPLBACKEND", raising=False)
    spec = KernelSpecManager().get_kernel_spec("python3")
    assert spec.argv[0] == sys.executable

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    client.execute()  # raises CellExecutionError, naming the cell, on the first error

    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            assert output["output_type"] != "error", f"cell {index}: {output}"
            if output["output_type"] == "stream" and output["name"] == "stderr":
                assert not WARNING.search(output["text"]), f"cell {index}: {output['text']}"
