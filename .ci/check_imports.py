"""The package's import contract: one-way layers, no import cycles, no unexplained deferred imports.

Layers, lowest first (a module may import its own layer's packages and those below, never above):

    utilities     atomic, paths, device, interrupts, metrics, commands (shared CLI pieces)
    media, nets   audio, video, nets
    foundations   checkpoints, data, stem_settings
    separation    separate
    preset files  presets
    applications  evaluate, train, engine, daw, demo
    command line  cli, and every ``<package>.cli`` / ``__main__`` module

Also: the packages of one layer import each other without a cycle; modules import each other
without a cycle (counting module-level imports); and an import inside a function carries a
``# deferred: <reason>`` comment (a heavy or optional dependency loaded only where needed).

    python .ci/check_imports.py [PACKAGE_DIR]      # exit 1 and one line per breach
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

LAYERS: tuple[tuple[str, ...], ...] = (
    ("atomic", "paths", "device", "interrupts", "metrics", "commands"),
    ("audio", "video", "nets"),
    ("checkpoints", "data", "stem_settings"),
    ("separate",),
    ("presets",),
    ("evaluate", "train", "engine", "daw", "demo"),
    ("cli",),
)
"""The packages (first name under the root package) of each layer, lowest first."""
COMMAND_LINE = "cli"
"""The unit of every command-line module: ``<package>.cli``, ``__main__`` and ``cli`` itself."""
DEFERRED = "# deferred:"


@dataclass(frozen=True)
class Import:
    """One import of a package module: where it is and what it names."""

    source: str
    target: str
    line: int
    in_function: bool
    type_only: bool


def module_name(root: Path, path: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def unit(module: str) -> str:
    """The layer unit of a module: its first package under the root, or :data:`COMMAND_LINE`."""
    parts = module.split(".")
    if parts[-1] in ("cli", "__main__"):
        return COMMAND_LINE
    return parts[1] if len(parts) > 1 else ""


def layer_of(name: str) -> int:
    for index, names in enumerate(LAYERS):
        if name in names:
            return index
    return -1  # the root package itself: below everything


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports_of(root: Path, path: Path) -> Iterator[Import]:
    """Every import of a module under the root package made by the module at ``path``."""
    module = module_name(root, path)
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    tree = ast.parse(source, filename=str(path))
    package = root.name

    def visit(node: ast.AST, in_function: bool, type_only: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                if isinstance(child, ast.Import):
                    names = [alias.name for alias in child.names]
                else:
                    base = _resolve(module, path.name == "__init__.py", child)
                    names = [base]
                    # `from pkg import sub` may name a submodule: count it as that module
                    names += [f"{base}.{a.name}" for a in child.names if _is_module(root, base, a)]
                for name in names:
                    ours = name == package or name.startswith(package + ".")
                    if ours or (in_function and DEFERRED not in lines[child.lineno - 1]):
                        yield Import(module, name, child.lineno, in_function, type_only)
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                yield from visit(child, True, type_only)
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                yield from visit(child, in_function, True)
            else:
                yield from visit(child, in_function, type_only)

    yield from visit(tree, False, False)


def _is_module(root: Path, base: str, alias: ast.alias) -> bool:
    """Whether ``from base import alias`` names a module (a file or a package folder)."""
    path = root.parent / Path(*f"{base}.{alias.name}".split("."))
    return path.is_dir() or path.with_suffix(".py").is_file()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of nodes (first repeated at the end), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := walk(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := walk(node)):
            return cycle
    return None


def breaches(root: Path) -> list[str]:
    """One line per breach of the contract in the package at ``root``."""
    found: list[str] = []
    units: dict[str, set[str]] = {}
    modules: dict[str, set[str]] = {}
    package = root.name
    for path in sorted(root.rglob("*.py")):
        for imp in imports_of(root, path):
            where = f"{path.relative_to(root.parent)}:{imp.line}"
            if not imp.target.startswith(package):
                found.append(f"{where}: import of {imp.target} inside a function without a "
                             f"'{DEFERRED} <reason>' comment")  # fmt: skip
                continue
            if imp.type_only:
                continue
            source_unit, target_unit = unit(imp.source), unit(imp.target)
            if layer_of(target_unit) > layer_of(source_unit):
                found.append(f"{where}: {imp.source} ({source_unit}) imports {imp.target} "
                             f"({target_unit}), a higher layer")  # fmt: skip
            if imp.in_function and DEFERRED not in path.read_text().splitlines()[imp.line - 1]:
                found.append(f"{where}: import of {imp.target} inside a function without a "
                             f"'{DEFERRED} <reason>' comment")  # fmt: skip
            if source_unit != target_unit and target_unit:
                units.setdefault(source_unit, set()).add(target_unit)
            if not imp.in_function and imp.target != imp.source:
                modules.setdefault(imp.source, set()).add(imp.target)
    for name, graph in (("packages", units), ("modules", _without_parents(modules))):
        cycle = find_cycle(graph)
        if cycle:
            found.append(f"import cycle between {name}: {' -> '.join(cycle)}")
    for name in sorted({u for edges in units.values() for u in edges} | set(units)):
        if name and layer_of(name) < 0:
            found.append(f"package {package}.{name} is in no layer: add it to LAYERS")
    return found


def _without_parents(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The module graph without edges to a module's own parent packages (a package's
    ``__init__`` re-exporting its submodules is not a cycle with them)."""
    return {
        source: {t for t in targets if not source.startswith(t + ".")}
        for source, targets in graph.items()
    }


def main(argv: list[str]) -> int:
    root = Path(argv[0]) if argv else Path(__file__).resolve().parents[1] / "avpc_plugin"
    found = breaches(root)
    for line in found:
        print(line, file=sys.stderr)
    print(f"import contract: {len(found)} breach(es) in {root.name}")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
