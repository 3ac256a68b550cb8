"""notebooks/forecasting.ipynb runs top to bottom against a small demo warehouse.

With nbclient + nbformat + ipykernel installed the notebook runs in a real kernel;
without them its code cells are executed in order in one namespace (same code, same
asserts), so the notebook is exercised either way."""
from __future__ import annotations

import json
import os
from pathlib import Path

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "forecasting.ipynb"


def _run_cells_plainly(path: Path) -> None:
    nb = json.loads(path.read_text())
    namespace: dict = {"__name__": "__notebook__"}
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            exec(compile(source, f"{path.name}:{cell.get('id')}", "exec"), namespace)


def test_forecasting_notebook_executes(tmp_path, monkeypatch):
    monkeypatch.setenv("MICROPULSE_WAREHOUSE", str(tmp_path / "notebook.duckdb"))
    monkeypatch.chdir(NOTEBOOK.parent)
    try:
        import nbformat
        from nbclient import NotebookClient
    except ImportError:
        _run_cells_plainly(NOTEBOOK)
        return
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}},
                   env={**os.environ}).execute()
