"""Layering: pages reach data only through components/ (which own the cached accessors),
and the UI (app.py, pages/, components/) never imports the API package."""
from __future__ import annotations

import ast
import sys
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


# ---- no module reaches into another module's private names ---------------------------------
def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _foreign_private_uses(path: Path) -> list[str]:
    """`from engine.x import _y`, and `x._y` where `x` names another of our modules
    (imported as a module, under any alias), in `path`. Its own names are fine."""
    me = _module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: dict[str, str] = {}          # local name -> the module or object it stands for
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([node.module] if node.module else []))
            for a in node.names:
                if _private(a.name) and base != me:
                    found.append(f"from {base} import {a.name}")
                names[a.asname or a.name] = f"{base}.{a.name}"
        elif isinstance(node, ast.Import):
            for a in node.names:
                names[a.asname or a.name.split(".")[0]] = a.name if a.asname else \
                    a.name.split(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            chain, value = [], node.value
            while isinstance(value, ast.Attribute):
                chain.append(value.attr)
                value = value.value
            if isinstance(value, ast.Name) and value.id in names:
                target = ".".join([names[value.id], *reversed(chain)])
                if target.split(".")[0] in OURS and target != me:
                    found.append(f"{target}.{node.attr}")
    return found


OURS = ("engine", "api", "components")


def test_no_module_uses_another_modules_private_names():
    offenders = {}
    for top in OURS:
        for path in sorted((REPO / top).rglob("*.py")):
            if found := _foreign_private_uses(path):
                offenders[str(path.relative_to(REPO))] = found
    assert offenders == {}


def test_the_private_check_sees_every_form(tmp_path, monkeypatch):
    pkg = tmp_path / "engine" / "pkg"
    pkg.mkdir(parents=True)
    mod = pkg / "mod.py"
    mod.write_text("from engine.auth import _digest\n"
                   "from . import other as o\n"
                   "import engine.geo\n"
                   "from engine import export as ex\n"
                   "from .mod import _mine\n"
                   "def _mine():\n    return o._x, engine.geo._locality, ex._put, _mine\n",
                   encoding="utf-8")
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    assert sorted(_foreign_private_uses(mod)) == sorted([
        "from engine.auth import _digest", "engine.pkg.other._x", "engine.geo._locality",
        "engine.export._put"])


# ---- storage never imports a domain package ------------------------------------------------
DOMAINS = ("engine.forecast", "engine.pricing", "engine.inventory", "engine.sourcing",
           "engine.scenarios", "engine.alerts", "engine.intel", "engine.assistant")
# ... and the domain-side helpers storage must not reach back into either: the festival
# calendar, the PIN reference and its directory, the run metrics. The `init` command
# (warehouse/cli.py) starts the festival and demo loaders, so only DOMAINS hold for it.
HELPERS = ("engine.signals", "engine.geo", "engine.pin_directory", "engine.telemetry")


def _domain_imports(modules: set[str], domains=DOMAINS + HELPERS) -> list[str]:
    """The imports among `modules` of a domain package (engine.alerts* counts
    engine.alerts_cli and the like too)."""
    return sorted(m for m in modules if any(
        m == d or m.startswith(d + ".") or (d == "engine.alerts" and m.startswith(d))
        for d in domains))


def test_storage_imports_no_domain_package():
    offenders = {str(p.relative_to(REPO)): found
                 for p in sorted((REPO / "engine" / "warehouse").glob("*.py"))
                 if (found := _domain_imports(_imports(p), DOMAINS if p.name == "cli.py"
                                              else DOMAINS + HELPERS))}
    assert offenders == {}


def test_the_domain_check_sees_every_form(tmp_path):
    store = tmp_path / "store.py"
    store.write_text("from engine.warehouse.db import Warehouse\n"
                     "def f():\n    from engine.pricing.competitor_match import match_items\n"
                     "    import engine.alerts_rules\n    from engine import scenarios\n",
                     encoding="utf-8")
    assert _domain_imports(_imports(store)) == [
        "engine.alerts_rules", "engine.pricing.competitor_match",
        "engine.pricing.competitor_match.match_items", "engine.scenarios"]
