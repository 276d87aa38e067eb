"""The plugin author's surface is kept: no public name disappears without a release of
warnings (the snapshot below), a moved name still imports from its old path and says the
new one, and the version, the changelog and the docs agree."""

from __future__ import annotations

import importlib
import re

import pytest

from plugtune.core import PUBLIC
from plugtune.core.moved import MOVED, REMOVED_IN
from plugtune.environment import installed_version
from tests.conftest import REPO

# What 0.2.0 offers. Add a new public name here when it ships; remove one only after it
# warned from its old path for a minor version (plugtune.core.moved) and CHANGELOG.md
# said so.
SNAPSHOT: dict[str, tuple[str, ...]] = {
    "plugtune": (
        "KINDS", "Component", "ComponentRef", "ConfigError", "DuplicateComponentError",
        "PluginError", "PluginProblem", "PluginSelection", "PlugtuneError", "Predictor",
        "Registry", "RunConfig", "Session", "UnknownComponentError", "config_schema",
        "hookimpl", "load_config"),
    "plugtune.sdk": (
        "Answer", "CHATML_SLOTS", "GLM4Calls", "JsonCalls", "LETTERS", "ParsesReplies",
        "Reply", "ReplyDelta", "ReplyFormat", "ReplyStream", "SlotTemplate", "Slots",
        "TaggedCalls", "TemplateBase", "TemplateError", "TemplateOptionsError", "ThinkBlock",
        "Tool", "WholeReplyCalls", "answer_from_ids", "check_chat_template",
        "check_environment", "check_jinja_parity", "completion_text", "cut_at_stop",
        "environment_tools", "format_question", "normalize", "prompt_text",
        "read_csv_rows", "tool_from_function", "with_template_options", "words"),
    "plugtune.core.config": (
        "AgentConfig", "BenchmarkConfig", "ComponentRef", "DataConfig", "DatasetSpec",
        "EvaluationConfig", "GenerationConfig", "ModelConfig", "OutputConfig", "PeftConfig",
        "PluginsConfig", "QuantizationConfig", "RayConfig", "RewardRef", "RunConfig",
        "TrainingConfig"),
    "plugtune.core.errors": (
        "ConfigError", "DuplicateComponentError", "PluginError", "PlugtuneError",
        "UnknownComponentError"),
    "plugtune.core.hookspecs": ("hookimpl",),
    "plugtune.core.interfaces": (
        "AnswerLoss", "AnswerScorer", "Backend", "BenchmarkLayout", "ChatTemplate",
        "ConfigReader", "Environment", "Exporter", "Loader", "Metric", "MetricScores",
        "ModelMetric", "OwnsReward", "PeftMethod", "PreparesRows", "ReadConfig", "Register",
        "Retriever", "Reward", "SampleMetric", "ScoringBackend", "Segment",
        "TakesFlatBatches", "Trainer", "TrainingRun", "WritesJinja"),
    "plugtune.core.records": (
        "Conversation", "LabeledCompletion", "Message", "Passage", "Preference",
        "RecordError", "Text", "ToolCall", "prompt_and_reference"),
    "plugtune.core.validation": ("did_you_mean", "validate_model"),
    "plugtune.training": (
        "CausalLMData", "PreparesRows", "RewardColumns", "checkpointing_enabled",
        "encoded_rows", "find_adapter", "prompt_rows", "run_callbacks", "train",
        "train_and_save", "train_causal_lm", "trainable_model"),
    "plugtune.data": (
        "DatasetEntry", "DatasetRegistry", "DatasetReport", "EncodedExample",
        "EncodingOptions", "LoadReport", "LoadedData", "SourceRow", "detect_format",
        "encode_conversations", "load_dataset", "load_datasets", "mix", "read_registry",
        "read_rows", "resolve_template", "sample", "split", "stop_token_ids",
        "tokenizer_and_template"),
}
MOVED_NAMES = [(old, name) for old, (_, names) in sorted(MOVED.items()) for name in names]


def listed() -> dict[str, set[str]]:
    """The public surface as the code lists it now."""
    surface = {module: set(names) for module, names in PUBLIC.items()}
    for module in ("plugtune", "plugtune.sdk", "plugtune.training", "plugtune.data"):
        surface[module] = set(importlib.import_module(module).__all__)
    return surface


def test_no_public_name_disappears():
    now = listed()
    gone = {module: sorted(set(names) - now.get(module, set()))
            for module, names in SNAPSHOT.items()}
    assert not any(gone.values()), (
        f"public names disappeared: {gone}; keep them at their old path with a "
        "DeprecationWarning (plugtune.core.moved) and say so in CHANGELOG.md")


@pytest.mark.parametrize("module", sorted(SNAPSHOT))
def test_every_listed_name_imports(module):
    imported = importlib.import_module(module)
    assert [name for name in sorted(listed()[module]) if not hasattr(imported, name)] == []


@pytest.mark.parametrize(("old", "name"), MOVED_NAMES)
def test_a_moved_name_imports_from_its_old_path_and_warns_with_the_new_one(old, name):
    new = MOVED[old][0]
    with pytest.warns(DeprecationWarning, match=re.escape(f"moved to {new}.{name}")) as caught:
        value = getattr(importlib.import_module(old), name)
    assert value is getattr(importlib.import_module(new), name)
    assert caught[0].filename == __file__  # the warning points at the importing line


def test_a_plugin_written_for_0_1_imports_with_warnings():
    with pytest.warns(DeprecationWarning) as caught:
        from plugtune.core.records import check_messages
        from plugtune.plugins.templates.slots import SlotTemplate
        from plugtune.testing import check_chat_template
    assert {str(warning.message).split(" moved")[0] for warning in caught} == {
        "plugtune.core.records.check_messages", "plugtune.plugins.templates.slots.SlotTemplate",
        "plugtune.testing.check_chat_template"}
    assert callable(check_messages) and callable(check_chat_template)
    assert SlotTemplate.__module__ == "plugtune.sdk.templates.slots"


def test_an_old_path_knows_only_the_names_that_moved():
    with pytest.raises(AttributeError, match="has no attribute 'Nothing'"):
        importlib.import_module("plugtune.testing").Nothing  # noqa: B018


def test_the_version_the_changelog_and_the_docs_agree():
    version = installed_version("plugtune")
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^version = "(.+)"$', pyproject, re.MULTILINE)[1] == version, (
        "the installed metadata is older than pyproject.toml: make install")
    changelog = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    assert re.search(r"^## (\S+)$", changelog, re.MULTILINE)[1] == version
    for old, (new, _) in MOVED.items():
        assert f"`{old}" in changelog and f"`{new}`" in changelog, old
    assert f"go in {REMOVED_IN}" in changelog
    guide = (REPO / "docs" / "plugins.md").read_text(encoding="utf-8")
    assert "deprecation policy" in guide and "DeprecationWarning" in guide
