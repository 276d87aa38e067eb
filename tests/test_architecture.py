"""The layers and the import rule (docs/architecture.md), enforced on the source.

    cli / application   plugtune.cli, plugtune.__main__, the package root (lazily)
    plugins             plugtune.plugins.<package>: leaves, never importing each other
    library             data, training, inference, evaluation, rag, models, rewards, tiny,
                        environment: reach plugins only through the registry
    sdk                 plugtune.sdk: helpers plugins and the library share
    compat              plugtune.compat: every reach into an upstream's internals; imports
                        nothing of plugtune
    core                plugtune.core: imports nothing above it

Every import is counted for the layers, module level, inside a function (a lazy import
is still a dependency) or for type checking only; the imports that run must form no
circle. Nothing outside plugtune.compat touches an upstream's private names.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO

SRC = REPO / "src"
PACKAGE = SRC / "plugtune"
LIBRARY = {"data", "training", "inference", "evaluation", "rag", "models", "rewards", "tiny",
           "deploy", "environment", "webui", "folder_lock", "folder_cache", "agents"}
APPLICATION = {"cli", "__main__", ""}
OLD_SDK_PATHS = {"testing"}  # plugtune.testing: plugtune.sdk.testing until 0.2.0 (core.moved)
RANK = {"core": 0, "compat": 1, "sdk": 2, "library": 3, "plugins": 4, "application": 5}
#: The libraries whose internals only plugtune.compat may touch.
UPSTREAMS = ("transformers", "trl", "peft", "accelerate", "gguf", "sacrebleu", "conversion")
CORE_LINE_BUDGET = 1700  # 1,500 until exporters became the 13th kind of plugin, 1,550
# until the public names were listed (core.PUBLIC) and moved ones forwarded (core.moved),
# 1,630 until environments became the 14th (its Protocols and the agent section)
MODULE_LINE_LIMIT = 400
FUNCTION_LINE_LIMIT = 60


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int
    top_level: bool
    typing_only: bool  # under ``if TYPE_CHECKING:``: never runs


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


MODULES = modules()


def resolve(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports_of(name: str, path: Path) -> Iterator[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(node) for node in tree.body}
    typing_only = {
        id(inner) for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING")
        for statement in node.body for inner in ast.walk(statement)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = resolve(name, path.name == "__init__.py", node)
            # ``from pkg import sub`` imports the module pkg.sub when there is one
            targets = [f"{module}.{alias.name}" if f"{module}.{alias.name}" in MODULES
                       else module for alias in node.names]
        else:
            continue
        for target in targets:
            if target == "plugtune" or target.startswith("plugtune."):
                yield Import(name, target, node.lineno, id(node) in top,
                             id(node) in typing_only)


IMPORTS = [edge for name, path in MODULES.items() for edge in imports_of(name, path)]


def layer(module: str) -> str:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else ""
    if top in ("core", "compat", "sdk", "plugins"):
        return top
    if top in OLD_SDK_PATHS:
        return "sdk"
    if top in LIBRARY:
        return "library"
    assert top in APPLICATION, f"{module}: in no layer; add it to the layer table"
    return "application"


def plugin_package(module: str) -> str:
    return module.split(".")[2]


def test_every_module_has_a_layer():
    for module in MODULES:
        layer(module)


def test_imports_point_down_the_layers():
    upward = [
        f"{e.importer}:{e.line} imports {e.imported}" for e in IMPORTS
        if RANK[layer(e.imported)] > RANK[layer(e.importer)]
        # the package root is the public facade: it may reach up, but lazily only
        and not (e.importer == "plugtune" and not e.top_level)
    ]
    assert upward == []


def test_nothing_outside_plugins_imports_a_built_in_plugin():
    reaching = [f"{e.importer}:{e.line} imports {e.imported}" for e in IMPORTS
                if layer(e.imported) == "plugins" and layer(e.importer) != "plugins"]
    assert reaching == []


def test_built_in_plugin_packages_are_independent():
    crossing = [
        f"{e.importer}:{e.line} imports {e.imported}" for e in IMPORTS
        if layer(e.importer) == layer(e.imported) == "plugins"
        and plugin_package(e.importer) != plugin_package(e.imported)
    ]
    assert crossing == []


def test_there_is_no_import_circle():
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for edge in IMPORTS:
        if edge.imported in MODULES and edge.imported != edge.importer and not edge.typing_only:
            graph[edge.importer].add(edge.imported)
    circles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph[module]):
            # a module importing its own package's __init__ (or the reverse) is how
            # packages work, not a circle of dependencies
            if module.startswith(target + ".") or target.startswith(module + "."):
                continue
            if state.get(target) == 1:
                circles.append(" -> ".join([*path[path.index(target):], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert circles == []


def test_importing_the_core_loads_nothing_above_it():
    code = (
        "import sys\n"
        "import plugtune.core.session, plugtune.core.config, plugtune.core.records\n"
        "import plugtune.core.interfaces, plugtune.core.hookspecs\n"
        "print(sorted(m for m in sys.modules if m.startswith('plugtune.')\n"
        "             and not m.startswith('plugtune.core')))\n"
        "print(sorted(m for m in ('torch', 'transformers', 'trl', 'peft') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.splitlines() == ["[]", "[]"]


def lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_the_core_stays_small():
    core = sum(lines(path) for path in (PACKAGE / "core").rglob("*.py"))
    assert core <= CORE_LINE_BUDGET, f"core/ has {core} lines (budget {CORE_LINE_BUDGET})"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_and_functions_stay_readable(module):
    path = MODULES[module]
    assert lines(path) <= MODULE_LINE_LIMIT, f"{path}: {lines(path)} lines"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno - node.lineno + 1 > FUNCTION_LINE_LIMIT
    ]
    assert long == [], f"{path}: split by job"


def test_the_compat_layer_imports_nothing_of_plugtune():
    reaching = [f"{e.importer}:{e.line} imports {e.imported}" for e in IMPORTS
                if layer(e.importer) == "compat" and e.imported.split(".")[0] == "plugtune"
                and layer(e.imported) != "compat"]
    assert reaching == []


def private(name: str | None) -> bool:
    return bool(name) and name.startswith("_") and not name.startswith("__")


def upstream_base(path: Path, tree: ast.Module, base: ast.expr) -> type | None:
    """The upstream class a class statement's base names (``from transformers import
    Trainer`` … ``class X(Trainer)``), None for any other base."""
    import importlib

    if not isinstance(base, ast.Name):
        return None
    for node in ast.walk(tree):
        if (isinstance(node, ast.ImportFrom) and node.module
                and node.module.split(".")[0] in UPSTREAMS):
            for alias in node.names:
                if (alias.asname or alias.name) == base.id:
                    found = getattr(importlib.import_module(node.module), alias.name, None)
                    return found if isinstance(found, type) else None
    return None


def private_reaches(path: Path) -> Iterator[str]:
    """Where a module touches a private name that is not its own: ``obj._name`` on
    anything but ``self``/``cls``, ``super()._name``, a private keyword argument, a
    private name imported from an upstream, and a private method defined in a class
    over an upstream class that has it (an override) or over a class passed in."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    parameters = {arg.arg for node in ast.walk(tree)
                  if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                  for arg in node.args.args + node.args.kwonlyargs}
    for node in ast.walk(tree):
        where = f"{path.relative_to(SRC)}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Attribute) and private(node.attr):
            owner = node.value
            if not (isinstance(owner, ast.Name) and owner.id in ("self", "cls")):
                yield f"{where} .{node.attr}"
        elif isinstance(node, ast.keyword) and private(node.arg):
            yield f"{where} {node.arg}="
        elif (isinstance(node, ast.ImportFrom) and node.module
              and node.module.split(".")[0] in UPSTREAMS):
            yield from (f"{where} imports {alias.name}" for alias in node.names
                        if private(alias.name))
        elif isinstance(node, ast.ClassDef):
            passed_in = any(isinstance(base, ast.Name) and base.id in parameters
                            for base in node.bases)
            upstream = [found for base in node.bases
                        if (found := upstream_base(path, tree, base)) is not None]
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and private(item.name) and (
                        passed_in or any(hasattr(cls, item.name) for cls in upstream)):
                    yield f"{where} overrides {item.name}"


def test_only_the_compat_layer_touches_upstream_private_names():
    """transformers', TRL's, PEFT's, accelerate's, llama.cpp's and sacrebleu's private
    names are a bet on one version each: they live in plugtune.compat, named and
    pinned by a contract test (tests/test_compat_contracts.py). A private name of
    plugtune's own that another module reads should become public."""
    reaching = [reach for name, path in MODULES.items() if layer(name) != "compat"
                for reach in private_reaches(path)]
    assert reaching == [], "move these into plugtune.compat (an entry + a contract test)"
