"""Static checks run as part of the test command: ruff, mypy (strict on the core), the
import-linter contract that keeps Textual out of the core, no import cycle among our
modules, and no screen file over ``MAX_SCREEN_LINES`` lines."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_is_clean() -> None:
    result = run(
        sys.executable, "-m", "ruff", "check", "ometer_tui", "tests", "benchmarks", "screenshots"
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean() -> None:
    result = run(sys.executable, "-m", "mypy", "ometer_tui", "benchmarks", "screenshots")
    assert result.returncode == 0, result.stdout + result.stderr


def test_core_never_imports_textual() -> None:
    lint_imports = shutil.which("lint-imports")
    if lint_imports is None:
        pytest.fail("lint-imports (import-linter) is not installed: pip install -e '.[test]'")
    result = run(lint_imports)
    assert result.returncode == 0, result.stdout + result.stderr


def test_importing_the_core_loads_no_ui_library() -> None:
    # (rich may still be loaded by httpx itself, which imports its optional CLI when rich
    # is installed; the import-linter contract checks that our own code never does.)
    code = (
        "import sys, ometer_tui.core.bench.runner, ometer_tui.core.export, "
        "ometer_tui.core.settings, ometer_tui.headless; "
        "bad = [m for m in sys.modules if m.startswith(('textual', 'ometer_tui.tui'))]; "
        "print(bad); raise SystemExit(1 if bad else 0)"
    )
    result = run(sys.executable, "-c", code)
    assert result.returncode == 0, result.stdout + result.stderr


# --------------------------------------------------------------------------- structure

#: Imports allowed to close a cycle: none (the TUI was rebuilt on components, #8). Never
#: add to this list; an entry that no longer closes a cycle fails the test.
ALLOWED_CYCLE_EDGES: frozenset[tuple[str, str]] = frozenset()

#: A screen is wiring: past this many lines it does someone else's job.
MAX_SCREEN_LINES = 300
#: Screens allowed over the limit: none (same rules as above).
ALLOWED_LONG_SCREENS: frozenset[str] = frozenset()


def module_files(package_dir: Path) -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package ``__init__``) for every ``.py`` file."""
    out: dict[str, tuple[Path, bool]] = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        out[".".join(parts)] = (path, is_package)
    return out


def import_graph(package_dir: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports, anywhere in the file: at the top,
    under ``TYPE_CHECKING``, inside functions. Relative imports are resolved;
    ``from pkg import name`` points at ``pkg.name`` when that is a module, else ``pkg``."""
    modules = module_files(package_dir)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, (path, is_package) in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                graph[name].update(a.name for a in node.names if a.name in modules)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".") if is_package else name.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    target = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    target = node.module or ""
                for alias in node.names:
                    full = f"{target}.{alias.name}"
                    if full in modules:
                        graph[name].add(full)
                    elif target in modules:
                        graph[name].add(target)
    return graph


def import_cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components with a cycle (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _describe(cycles: list[list[str]], graph: Mapping[str, set[str]]) -> str:
    lines = []
    for cycle in cycles:
        members = set(cycle)
        lines.append(" <-> ".join(cycle))
        lines += [f"    {a} -> {b}" for a in cycle for b in sorted(graph[a] & members)]
    return "\n".join(lines)


def test_the_cycle_finder_sees_cycles_through_type_checking_functions_and_relative_imports(
    tmp_path: Path,
) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from . import b\n")
    (pkg / "a.py").write_text("def f():\n    from pkg.sub import b\n")
    (pkg / "sub" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .. import a\n"
    )
    (pkg / "c.py").write_text("import pkg.a\nfrom .sub.b import thing\n")
    graph = import_graph(pkg)
    assert graph["pkg.a"] == {"pkg.sub.b"}
    assert graph["pkg.sub.b"] == {"pkg.a"}
    assert graph["pkg.c"] == {"pkg.a", "pkg.sub.b"}
    assert graph["pkg.sub"] == {"pkg.sub.b"}
    assert import_cycles(graph) == [["pkg.a", "pkg.sub.b"]]


def test_no_import_cycles_among_our_modules() -> None:
    graph = import_graph(ROOT / "ometer_tui")
    stale = sorted(f"{a} -> {b}" for a, b in ALLOWED_CYCLE_EDGES if b not in graph.get(a, set()))
    assert not stale, f"not imported any more, take out of ALLOWED_CYCLE_EDGES: {stale}"
    pruned = {a: {b for b in bs if (a, b) not in ALLOWED_CYCLE_EDGES} for a, bs in graph.items()}
    cycles = import_cycles(pruned)
    assert not cycles, "import cycles:\n" + _describe(cycles, pruned)
    closing = sorted(
        f"{a} -> {b}"
        for a, b in ALLOWED_CYCLE_EDGES
        if not any({a, b} <= set(c) for c in import_cycles(graph))
    )
    assert not closing, f"no longer part of a cycle, take out of ALLOWED_CYCLE_EDGES: {closing}"


def test_no_screen_file_is_over_the_line_limit() -> None:
    screens = ROOT / "ometer_tui" / "tui" / "screens"
    lengths = {
        p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in screens.glob("*.py")
    }
    too_long = {n: c for n, c in lengths.items() if c > MAX_SCREEN_LINES}
    new = {n: c for n, c in too_long.items() if n not in ALLOWED_LONG_SCREENS}
    assert not new, f"screen files over {MAX_SCREEN_LINES} lines: {new}"
    stale = sorted(ALLOWED_LONG_SCREENS - set(too_long))
    assert not stale, f"within the limit now, take out of ALLOWED_LONG_SCREENS: {stale}"
