"""plugtune-example as a package: pip-installed, it registers one component of every
kind by name with no change to plugtune, cheaply, on the plugin author's surface only."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import plugtune
import plugtune.data
import plugtune.training
from plugtune import KINDS, ConfigError, PlugtuneError, Session
from plugtune.core.registry import doc_summary

SOURCES = Path(__file__).resolve().parents[1] / "src" / "plugtune_example"
DISTRIBUTION = "plugtune-example"

EXPECTED = {
    ("loaders", "qa"),
    ("templates", "bracket"),
    ("trainers", "answer_sft"),
    ("peft", "bitfit"),
    ("rewards", "keyword"),
    ("environments", "guess_number"),
    ("backends", "lookup"),
    ("metrics", "length_ratio"),
    ("benchmarks", "jsonl_mc"),
    ("retrievers", "lines"),
    ("callbacks", "loss_printer"),
    ("commands", "example-words"),
    ("exporters", "adapter_zip"),
    ("config_readers", "example_yaml"),
}
# Registered as "plugtune_example.module:attr" strings, imported on first use.
LAZY_MODULES = ("qa_loader", "bracket_template", "answer_sft", "bitfit", "lookup_backend",
                "jsonl_mc", "lines_retriever", "example_yaml", "adapter_archive",
                "guess_number")


def mine(session: Session) -> list:
    return [c for c in session.components() if c.plugin.distribution == DISTRIBUTION]


def test_the_cli_lists_one_component_of_every_kind(subprocess_environment: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "plugtune", "plugins", "list", "--json"],
        capture_output=True, text=True, check=True, env=subprocess_environment,
    )
    listing = json.loads(result.stdout)
    rows = [row for row in listing["components"] if row["distribution"] == DISTRIBUTION]
    assert {(row["kind"], row["name"]) for row in rows} == EXPECTED
    assert {row["kind"] for row in rows} == set(KINDS)
    assert {row["version"] for row in rows} == {"0.1.0"}
    assert all(row["doc"] for row in rows), [row["name"] for row in rows if not row["doc"]]
    assert [p for p in listing["problems"] if p["distribution"] == DISTRIBUTION] == []


def test_registering_imports_no_component_module_and_no_torch(
        subprocess_environment: dict[str, str]) -> None:
    """Every plugtune command imports every plugin: listing the components must import
    neither the lazily registered modules nor the ML stack."""
    probe = (
        "import sys, json\n"
        "from plugtune import Session\n"
        "session = Session()\n"
        "names = [c.name for c in session.components()]\n"
        "print(json.dumps({'names': names, 'modules': sorted(sys.modules)}))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True, env=subprocess_environment)
    seen = json.loads(result.stdout)
    assert {name for _, name in EXPECTED} <= set(seen["names"])
    assert "plugtune_example" in seen["modules"]  # the plugin itself was imported …
    lazy = {f"plugtune_example.{module}" for module in LAZY_MODULES}
    assert lazy & set(seen["modules"]) == set()  # … its components were not
    heavy = {"torch", "transformers", "peft", "trl", "datasets"}
    assert heavy & set(seen["modules"]) == set()


def test_lazy_components_load_on_first_use_with_their_options(example_session: Session) -> None:
    component = example_session.component("trainers", "answer_sft")
    assert component.target == "plugtune_example.answer_sft:AnswerSFT"
    assert "plugtune_example.answer_sft" not in sys.modules
    # plugtune imports the class to find its Options model, then validates with it.
    assert component.options_model.__name__ == "AnswerSFTOptions"
    assert "plugtune_example.answer_sft" in sys.modules
    trainer = example_session.build("trainers", {"name": "answer_sft", "min_answer_chars": 7})
    assert trainer.min_answer_chars == 7
    misspelt = r"min_answer_char: unknown key \(did you mean 'min_answer_chars'"
    with pytest.raises(ConfigError, match=misspelt):
        example_session.build("trainers", {"name": "answer_sft", "min_answer_char": 7})
    with pytest.raises(ConfigError, match="min_answer_chars"):
        example_session.build("trainers", {"name": "answer_sft", "min_answer_chars": -1})
    with pytest.raises(ConfigError, match="takes no options"):
        example_session.build("peft", {"name": "bitfit", "r": 8})


def test_each_registration_doc_is_the_first_line_of_the_component_docstring(
        example_session: Session) -> None:
    """A lazily registered component passes ``doc=`` (plugtune cannot read the docstring
    of what it has not imported); it must say what the code's own docstring says."""
    components = mine(example_session)
    assert len(components) == len(EXPECTED)
    assert all(component.doc for component in components)
    differing = {c.name: (c.doc, doc_summary(c.load())) for c in components
                 if c.doc != doc_summary(c.load())}
    assert differing == {}


def test_the_command_joins_the_cli(example_environment: Path, tmp_path: Path) -> None:
    text = tmp_path / "words.txt"
    text.write_text("to be or not to be")
    from plugtune.cli import cli

    result = CliRunner().invoke(cli, ["example-words", str(text), "--top", "2"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "2\tto\n2\tbe\n"


# The plugin author's surface (docs/plugins.md, "What a plugin may import").
ROOT_NAMES = {"hookimpl", "Session", "load_config", "ComponentRef", "RunConfig"} | {
    name for name in plugtune.__all__
    if isinstance(getattr(plugtune, name), type) and issubclass(getattr(plugtune, name),
                                                                 PlugtuneError)
}
CORE_MODULES = {f"plugtune.core.{name}"
                for name in ("records", "interfaces", "config", "errors", "validation")}
MODULE_NAMES = {"plugtune.training": set(plugtune.training.__all__),
                "plugtune.data": set(plugtune.data.__all__)}
# Imported inside the components that use them, never when the plugin registers.
HEAVY = {"torch", "transformers", "peft", "trl", "datasets", "accelerate"}


def imports(tree: ast.Module) -> list[tuple[ast.stmt, str, list[str], bool]]:
    """(statement, module, names imported from it, at module level) of every import."""
    top_level = {id(node) for node in tree.body}
    for node in tree.body:  # `if TYPE_CHECKING:` blocks count as the module's level
        if isinstance(node, ast.If):
            top_level |= {id(child) for child in node.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node, alias.name, [], id(node) in top_level) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            found.append((node, module, [alias.name for alias in node.names],
                          id(node) in top_level))
    return found


def surface_problem(module: str, names: list[str]) -> str | None:
    """Why importing ``names`` from ``module`` leaves the author's surface (None: it
    does not)."""
    if module == "plugtune_example" or module.startswith(("plugtune_example.", ".")):
        return None  # the package's own modules
    if module.split(".")[0] != "plugtune":
        return None  # the standard library or a third-party package
    if module.startswith("plugtune.plugins"):
        return "imports plugtune's own built-in plugins"
    if module == "plugtune":
        outside = set(names) - ROOT_NAMES
        return f"imports {sorted(outside)} from plugtune" if outside else None
    if module in MODULE_NAMES:
        outside = set(names) - MODULE_NAMES[module]
        return f"imports undocumented {sorted(outside)} from {module}" if outside else None
    if module in CORE_MODULES or module == "plugtune.sdk" or module.startswith("plugtune.sdk."):
        return None
    return f"imports {module}, which is not on the plugin author's surface"


def test_the_package_imports_only_the_plugin_authors_surface() -> None:
    files = sorted(SOURCES.glob("**/*.py"))
    assert len(files) >= len(EXPECTED), files  # the walk sees the whole package
    problems, seen = [], set()
    for file in files:
        tree = ast.parse(file.read_text(encoding="utf-8"), str(file))
        for node, module, names, top_level in imports(tree):
            where = f"{file.name}:{node.lineno}"
            seen.add(module)
            problem = surface_problem(module, names)
            if problem:
                problems.append(f"{where}: {problem}")
            if top_level and module.split(".")[0] in HEAVY:
                problems.append(f"{where}: imports {module} when the plugin registers")
    assert problems == []
    assert "plugtune.training" in seen and "plugtune.sdk.templates" in seen  # walked


@pytest.mark.parametrize(("module", "names", "allowed"), [
    ("plugtune.plugins.peft.lora", ["LoRA"], False),
    ("plugtune.plugins", ["peft"], False),
    ("plugtune.training.run.causal_lm", ["CausalLMData"], False),
    ("plugtune.training", ["train_causal_lm", "encoded_rows"], True),
    ("plugtune.training", ["checkpointing_enabled"], True),
    ("plugtune.training.run.arguments", ["checkpointing_enabled"], False),
    ("plugtune", ["hookimpl", "ConfigError"], True),
    ("plugtune", ["Registry"], False),
    ("plugtune.core.session", ["Session"], False),
    ("plugtune.core.records", ["Conversation"], True),
    ("plugtune.sdk.backends.decoding", ["cut_at_stop"], True),
    ("plugtune.data", ["load_datasets"], True),
    ("plugtune.data.encoding", ["encode_texts"], False),
    ("plugtune.data", ["tokenizer_and_template", "stop_token_ids"], True),
])
def test_the_surface_check_itself(module: str, names: list[str], allowed: bool) -> None:
    assert (surface_problem(module, names) is None) is allowed
    tree = ast.parse(f"import {module}\n")
    assert [entry[1:] for entry in imports(tree)] == [(module, [], True)]
