"""Layering: pages reach data only through components/ (which own the cached accessors),
and the UI (app.py, pages/, components/) never imports the API package."""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAGES = sorted((REPO / "pages").glob("*.py")) + [REPO / "app.py"]
UI = PAGES + sorted((REPO / "components").glob("*.py"))


def _imports(path: Path) -> set[str]:
    """Every module `path` imports (`from engine import warehouse` counts as
    engine.warehouse), at any depth of the file (functions included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def _under(modules: set[str], package: str) -> list[str]:
    return sorted(m for m in modules if m == package or m.startswith(package + "."))


def test_pages_do_not_import_the_warehouse_package():
    offenders = {p.name: _under(_imports(p), "engine.warehouse") for p in PAGES}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_ui_does_not_import_the_api_package():
    offenders = {str(p.relative_to(REPO)): _under(_imports(p), "api") for p in UI}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_checks_see_every_import_form(tmp_path):
    page = tmp_path / "page.py"
    page.write_text("from engine import warehouse\n"
                    "def f():\n    import api.main\n", encoding="utf-8")
    modules = _imports(page)
    assert _under(modules, "engine.warehouse") == ["engine.warehouse"]
    assert _under(modules, "api") == ["api.main"]
