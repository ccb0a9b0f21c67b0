"""The import structure runs one way: cli -> pipeline -> stages -> building blocks, no cycles;
and the stage layer stays made of short named steps (no function over :data:`MAX_LINES`).

Every ``import`` of a ``semgen`` module (at module level or inside a function) is read with
``ast``; a package's ``__init__`` counts as a module of its own.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

# the layer of each top-level part (a smaller number may import a larger one, never the reverse)
LAYERS = {
    "semgen.cli": 0, "semgen.__main__": 0, "semgen.commands": 0,
    "semgen.pipeline": 1, "semgen.bench": 1,
    "semgen.phantoms": 2, "semgen.cohort": 2, "semgen.discovery": 2, "semgen.training": 2, "semgen.finetune": 2,
    "semgen.predict": 2,
    "semgen.io": 3, "semgen.transforms": 3, "semgen.models": 3, "semgen.tasks": 3, "semgen.utils": 3,
    "semgen.viz": 3, "semgen.stage": 3, "semgen.card": 3, "semgen.loggers": 3, "semgen": 4,
}
STAGES = {part for part, layer in LAYERS.items() if layer == 2}
# a stage's orchestration: another stage may use its data formats, never these (nor its
# package __init__, which re-exports them)
ORCHESTRATION = {
    "semgen.phantoms.writer", "semgen.cohort.prepare", "semgen.discovery.pipeline", "semgen.training.pipeline",
    "semgen.training.trainer", "semgen.finetune.pipeline", "semgen.predict",
}


def _modules() -> dict[str, Path]:
    modules = {}
    for path in (SRC / "semgen").rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return {m for m in found if m in modules and m != name}


def _runtime_nodes(tree: ast.AST):
    """Every node, except the bodies of ``if TYPE_CHECKING:`` (annotations only, never imported)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (n for child in node.orelse for n in ast.walk(child))
            continue
        yield node
        yield from _runtime_nodes(node)


def _part(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else module


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def test_every_module_has_a_layer():
    assert {_part(m) for m in _graph()} <= set(LAYERS)


def test_imports_run_one_way():
    wrong = [
        f"{a} -> {b}"
        for a, targets in _graph().items()
        for b in targets
        if LAYERS[_part(b)] < LAYERS[_part(a)]
    ]
    assert wrong == []


def test_no_stage_imports_another_stages_orchestration():
    wrong = [
        f"{a} -> {b}"
        for a, targets in _graph().items()
        for b in targets
        if _part(a) in STAGES and _part(b) in STAGES and _part(a) != _part(b) and (b in ORCHESTRATION or b == _part(b))
    ]
    assert wrong == []


def test_the_parts_import_each_other_without_cycles():
    parts: dict[str, set[str]] = {}
    for a, targets in _graph().items():
        parts.setdefault(_part(a), set()).update(_part(b) for b in targets if _part(b) != _part(a))
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(parts.get(node, ())):
            if state.get(nxt) == 1:
                return [*trail, node, nxt]
            if nxt not in state and (cycle := visit(nxt, [*trail, node])):
                return cycle
        state[node] = 2
        return None

    cycles = [c for p in sorted(parts) if p not in state and (c := visit(p, []))]
    assert cycles == []


def test_the_checker_sees_a_reverse_import(tmp_path):
    # the rules above can fail: a building block importing a stage is caught
    fake = {"semgen.io.x": tmp_path / "x.py", "semgen.discovery.pipeline": tmp_path / "p.py"}
    fake["semgen.io.x"].write_text("def f():\n    from semgen.discovery.pipeline import discover\n")
    assert _imports("semgen.io.x", fake["semgen.io.x"], fake) == {"semgen.discovery.pipeline"}
    assert LAYERS[_part("semgen.discovery.pipeline")] < LAYERS[_part("semgen.io.x")]


# issue 12: "no function over about 60 lines in the stage layer" (the stages and the pipeline
# that chains them), counted from ``def`` to the last line, signature and docstring included
MAX_LINES = 60
LONG_ALLOWED: dict[str, int] = {}  # "module.function": its length, for a function that must stay long (none now)


def _long_functions(path: Path, limit: int) -> dict[str, int]:
    found = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > limit:
            found[node.name] = node.end_lineno - node.lineno + 1
    return found


def test_no_stage_function_is_longer_than_the_limit():
    stage_layer = {name: path for name, path in _modules().items() if _part(name) in STAGES or name == "semgen.pipeline"}
    assert len(stage_layer) > 30  # the scan reads the stages (a moved tree would make it vacuous)
    too_long = {f"{name}.{fn}": n for name, path in stage_layer.items() for fn, n in _long_functions(path, MAX_LINES).items()}
    assert {k: n for k, n in too_long.items() if LONG_ALLOWED.get(k) != n} == {}, (
        f"split these into named steps (at most {MAX_LINES} lines each): {too_long}")


def test_the_length_check_counts_signature_docstring_and_body(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("def f(\n    a,\n):\n    \"\"\"Doc.\"\"\"\n" + "    a += 1\n" * 56 + "    return a\n\n\ndef g():\n    pass\n")
    assert _long_functions(path, 60) == {"f": 61} and _long_functions(path, 61) == {}
