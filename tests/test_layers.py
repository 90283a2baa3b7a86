"""The code's shape: imports go one way through the layers, never in a circle (imports
inside functions count; ``if TYPE_CHECKING:`` ones do not), and no module grows past 500
lines. Read from the source with ``ast``: nothing is imported."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "stcli"
MAX_LINES = 500

# Bottom to top, as README "Development" describes; a module may import its own layer and
# those below. A new module must be placed here: where it sits is a design decision.
LAYERS = {
    0: {"version", "errors", "choices", "presets", "results", "fileio", "inputs", "settings",
        "progress", "urls"},
    1: {"network"},  # model, roi, checkpoints, build, hashes
    2: {"weights"},
    3: {"video"},  # containers, decoding, frames, sampling, transforms, live
    4: {"engines"},  # backends (onnxruntime), torch_engine, openvino_engine, onnx_*
    5: {"pipeline"},
    6: {"segments", "persons", "heads", "loader"},
    7: {"tasks"},
    8: {"deploy", "executors"},
    9: {"evaluate", "reports", "render"},
    10: {"batch"},  # commands, plan, runner, writes, resume, shards
    11: {"cli", "completions", "__main__", ""},  # "": the package itself, the library facade
}


# What cli/ may import from the library: the entry points (tasks, batch runs, evaluation,
# export and bench, weights) and the writers of outputs (reports, render), besides the
# data definitions of layer 0. Decoding, engines, the loader, live sources, persons,
# shards and resume are reached through those, never from the CLI directly.
CLI_MAY_IMPORT = LAYERS[0] | {"tasks", "batch", "evaluate", "deploy", "weights", "reports",
                              "render", "cli", ""}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_blocks(tree: ast.AST) -> set[int]:
    """ids of the import nodes under ``if TYPE_CHECKING:`` (type hints only)."""
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return skipped


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The stcli modules ``name`` imports, anywhere in the file (functions included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _type_checking_blocks(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            # "from . import reports" imports the module stcli.reports; "from . import
            # __version__" imports (from) the package itself.
            targets = [f"{source}.{a.name}" if f"{source}.{a.name}" in known else source
                       for a in node.names]
        else:
            continue
        found |= {t for t in targets if t in known and t != name}
    return found


def import_graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports_of(name, path, set(found)) for name, path in found.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)) is not None:
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)) is not None:
            return cycle
    return None


def layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else ""
    matches = [n for n, names in LAYERS.items() if top in names]
    assert matches, f"{module}: place it in a layer of tests/test_layers.py (and the README)"
    return matches[0]


def test_no_import_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_imports_go_down_the_layers() -> None:
    upward = [f"{a} (layer {layer(a)}) imports {b} (layer {layer(b)})"
              for a, targets in import_graph().items() for b in targets if layer(b) > layer(a)]
    assert upward == []


def test_the_cli_imports_only_the_library_entry_points() -> None:
    below = sorted(f"{a} imports {b}" for a, targets in import_graph().items()
                   if a.startswith("stcli.cli") for b in targets
                   if (b.split(".")[1] if "." in b else "") not in CLI_MAY_IMPORT)
    assert below == []


def test_the_checks_see_cycles_and_imports_inside_functions(tmp_path: Path) -> None:
    # The checks above must be able to fail: a cycle hidden in a function is found.
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    hidden = tmp_path / "m.py"
    hidden.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .x import A\n"
                      "def f():\n    from .y import g\n    from . import z\n")
    assert imports_of("stcli.m", hidden, {"stcli.x", "stcli.y", "stcli.z"}) == {
        "stcli.y", "stcli.z"}


@pytest.mark.parametrize("name", sorted(modules()))
def test_module_is_under_500_lines(name: str) -> None:
    lines = len(modules()[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{name}: {lines} lines; split it by job"
