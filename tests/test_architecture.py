"""The house rules a restructuring must keep: no import cycle in the library (lazy imports
inside functions count), few ``type: ignore`` in library code, no ``sys.path`` games, and
benchmarks as thin scripts over the package."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ("bcfl_env", "agents", "training")
MAX_TYPE_IGNORES = 10


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _library_modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in LIBRARY for p in (ROOT / pkg).rglob("*.py")}


def _imported(tree: ast.AST) -> list[str]:
    """Every module an AST imports, wherever the import stands (top level, TYPE_CHECKING,
    inside a function)."""
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def import_graph() -> nx.DiGraph:
    modules = _library_modules()
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name, path in modules.items():
        for target in _imported(ast.parse(path.read_text())):
            while target and target not in modules:
                target = target.rpartition(".")[0]
            # a module importing its own package's __init__ is Python's normal package import
            if target and target != name and not name.startswith(target + "."):
                graph.add_edge(name, target)
    return graph


def test_the_library_has_no_import_cycle():
    cycles = list(nx.simple_cycles(import_graph()))
    assert cycles == [], f"import cycles: {cycles[:5]}"


def test_the_cycle_check_can_fail():
    graph = import_graph()
    graph.add_edge("bcfl_env.chain.block", "bcfl_env.world")  # the world imports the chain
    assert list(nx.simple_cycles(graph))


def test_library_code_has_few_type_ignores():
    found = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in _library_modules().values()
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if "type: ignore" in line
    ]
    assert len(found) <= MAX_TYPE_IGNORES, found


def test_no_sys_path_manipulation_in_tests_benchmarks_or_the_library():
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("tests", "benchmarks", "examples", *LIBRARY)
        for path in (ROOT / folder).rglob("*.py")
        if re.search(r"sys\.path\.(insert|append)|sys\.path\s*=", path.read_text())
    ]
    assert offenders == []


def test_nothing_imports_benchmarks_and_benchmarks_import_no_tests():
    benchmarks = {p.stem for p in (ROOT / "benchmarks").glob("*.py")}
    tests = {p.stem for p in (ROOT / "tests").glob("*.py")}
    for folder, forbidden in (
        ("tests", benchmarks),
        ("benchmarks", benchmarks | tests),
        *((pkg, benchmarks | tests) for pkg in LIBRARY),
    ):
        for path in (ROOT / folder).rglob("*.py"):
            roots = {name.split(".")[0] for name in _imported(ast.parse(path.read_text()))}
            assert not roots & (forbidden | {"benchmarks", "tests"}), (path, roots & forbidden)


def test_every_module_a_script_imports_exists():
    """Scripts run outside the test suite: an import left behind by a move must fail here."""
    import importlib.util

    for folder in ("benchmarks", "examples"):
        for path in (ROOT / folder).glob("*.py"):
            roots = {name.split(".")[0] for name in _imported(ast.parse(path.read_text()))}
            missing = sorted(r for r in roots if importlib.util.find_spec(r) is None)
            assert missing == [], (path.name, missing)
