"""Every notebook runs top to bottom (small settings), so none of them rots."""
import os

import pytest

nbformat = pytest.importorskip("nbformat", reason="pip install nbformat nbclient ipykernel (the dev extra)")
nbclient = pytest.importorskip("nbclient", reason="pip install nbclient ipykernel (the dev extra)")
pytest.importorskip("ipykernel", reason="pip install ipykernel (the dev extra)")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = os.path.join(REPO, "notebooks")
NAMES = sorted(n for n in os.listdir(NOTEBOOKS) if n.endswith(".ipynb"))


def test_the_seven_notebooks_exist_without_outputs():
    assert NAMES == ["01_convolutions.ipynb", "02_inside_vgg16.ipynb",
                     "03_train_and_evaluate.ipynb", "04_transfer_learning.ipynb",
                     "05_localization_and_detection.ipynb", "06_segmentation.ipynb",
                     "07_beyond_classifiers.ipynb"]
    for name in NAMES:
        nb = nbformat.read(os.path.join(NOTEBOOKS, name), as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert code and all(not c.outputs and c.execution_count is None for c in code), name


@pytest.mark.parametrize("name", NAMES)
def test_notebook_executes(name, monkeypatch, tmp_path):
    monkeypatch.setenv("CNNLAB_NOTEBOOK_SMALL", "1")
    monkeypatch.delenv("WEIGHTS", raising=False)
    monkeypatch.setenv("PYTHONPATH", REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the notebooks' run directories
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(os.path.join(NOTEBOOKS, name), as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": NOTEBOOKS}})
    client.execute()  # raises CellExecutionError naming the failing cell
    outputs = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    if name.startswith("02"):
        assert "RANDOM" in outputs  # says clearly that no weight file was given
    if name.startswith("04"):
        assert "body change after the frozen phase : 0.0" in outputs
