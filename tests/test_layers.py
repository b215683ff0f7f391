"""The import rules of DESIGN.md, read from the source: imports run one way (web → services
→ worker → ml → data → db → errors/settings), pages import no behaviour, and no module
takes part in an import loop, whether its imports sit at the top or inside a function."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("api", "auth", "callbacks", "pages", "ml", "data", "db")
TOP_MODULES = ("app", "worker", "services", "settings", "errors")
# Higher layers may import lower ones, never the other way round.
LAYER = {"errors": 0, "settings": 0, "db": 1, "data": 2, "ml": 3, "worker": 4,
         "services": 5, "auth": 6, "api": 6, "callbacks": 6, "pages": 6, "app": 7}
# What a page may take from callbacks/: component ids, which register nothing.
PAGE_MAY_IMPORT = {"callbacks", "callbacks.ids"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _first_party_modules() -> dict[str, Path]:
    paths = [ROOT / f"{name}.py" for name in TOP_MODULES]
    for package in PACKAGES:
        paths += [p for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts]
    return {_module_name(path): path for path in paths}


MODULES = _first_party_modules()


def _resolve(name: str) -> str | None:
    """The first-party module an import names (a package's submodule where one exists)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _relative_base(module: str, node: ast.ImportFrom) -> str:
    base = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        base = base.rpartition(".")[0]
    return f"{base}.{node.module}" if node.module else base


def imports_of(module: str) -> set[str]:
    """Every first-party module that ``module`` imports, anywhere in its body."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        if isinstance(node, ast.Import):
            found.update(filter(None, (_resolve(alias.name) for alias in node.names)))
        elif isinstance(node, ast.ImportFrom):
            base = _relative_base(module, node) if node.level else node.module
            for alias in node.names:
                target = _resolve(f"{base}.{alias.name}") or _resolve(base)
                if target:
                    found.add(target)
    found.discard(module)
    return found


GRAPH = {module: imports_of(module) for module in MODULES}


def _layer(module: str) -> int:
    return LAYER[module.split(".")[0]]


def test_the_graph_sees_the_known_imports():
    assert "ml.kinds.spec" in GRAPH["ml.kinds.autoencoder"]
    assert "db.store" in GRAPH["db.labels"]
    assert {"db.session", "ml.jobs", "settings"} <= GRAPH["worker"]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_run_one_way(module):
    upward = sorted(target for target in GRAPH[module] if _layer(target) > _layer(module))
    assert not upward, f"{module} imports higher layers: {upward}"


@pytest.mark.parametrize("page", sorted(m for m in MODULES if m.startswith("pages")))
def test_pages_import_layout_only(page):
    behaviour = sorted(target for target in GRAPH[page]
                       if target.startswith("callbacks") and target not in PAGE_MAY_IMPORT)
    assert not behaviour, f"{page} imports callback behaviour: {behaviour}"


def test_no_import_loops():
    """Tarjan's strongly connected components: each must be a single module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    loops: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in GRAPH[module]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                loops.append(sorted(component))

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    assert not loops, f"import loops: {loops}"
