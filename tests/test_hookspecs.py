"""Every hook is part of the documented contract and exercised by a test (as datasette does)."""

from __future__ import annotations

import inspect
import re

import pytest

from plugtune.core import hookspecs
from plugtune.core.registry import KINDS
from tests.conftest import REPO

HOOKS = sorted(
    name for name, obj in vars(hookspecs).items()
    if name.startswith("register_") and inspect.isfunction(obj)
)


def test_there_is_one_hook_per_kind():
    assert sorted(f"register_{kind}" for kind in KINDS) == HOOKS


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_a_docstring_and_takes_register(hook):
    function = getattr(hookspecs, hook)
    assert inspect.getdoc(function), f"{hook} has no docstring"
    assert list(inspect.signature(function).parameters) == ["register"]


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented_in_the_plugin_guide(hook):
    guide = (REPO / "docs" / "plugins.md").read_text(encoding="utf-8")
    assert re.search(rf"^### {hook}$", guide, re.MULTILINE), f"docs/plugins.md lacks ### {hook}"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_exercised_by_a_test(hook):
    """A test (or a plugin the tests load) implements the hook and uses what it registers."""
    sources = [path.read_text(encoding="utf-8") for path in (REPO / "tests").glob("test_*.py")]
    sources += [
        path.read_text(encoding="utf-8")
        for path in (REPO / "examples" / "plugins").rglob("*.py")
    ]
    assert any(f"def {hook}(" in source for source in sources), f"no test implements {hook}"


class Marker:
    def __init__(self, kind):
        self.help = kind


class EveryKind:
    """A plugin object implementing every hook, as an embedding tool might register one."""

    @hookspecs.hookimpl
    def register_loaders(self, register):
        register("marker", Marker("loaders"))

    @hookspecs.hookimpl
    def register_templates(self, register):
        register("marker", Marker("templates"))

    @hookspecs.hookimpl
    def register_trainers(self, register):
        register("marker", Marker("trainers"))

    @hookspecs.hookimpl
    def register_rewards(self, register):
        register("marker", Marker("rewards"))

    @hookspecs.hookimpl
    def register_environments(self, register):
        register("marker", Marker("environments"))

    @hookspecs.hookimpl
    def register_backends(self, register):
        register("marker", Marker("backends"))

    @hookspecs.hookimpl
    def register_metrics(self, register):
        register("marker", Marker("metrics"))

    @hookspecs.hookimpl
    def register_retrievers(self, register):
        register("marker", Marker("retrievers"))

    @hookspecs.hookimpl
    def register_callbacks(self, register):
        register("marker", Marker("callbacks"))

    @hookspecs.hookimpl
    def register_peft(self, register):
        register("marker", Marker("peft"))

    @hookspecs.hookimpl
    def register_benchmarks(self, register):
        register("marker", Marker("benchmarks"))

    @hookspecs.hookimpl
    def register_exporters(self, register):
        register("marker", Marker("exporters"))

    @hookspecs.hookimpl
    def register_config_readers(self, register):
        register("marker", Marker("config_readers"))

    @hookspecs.hookimpl
    def register_commands(self, register):
        import click

        register(click.Command("marker", help="commands"))


@pytest.mark.parametrize("kind", KINDS)
def test_each_hook_delivers_into_the_registry_of_its_kind(kind):
    from plugtune import Session

    session = Session(plugins=[EveryKind()])
    component = session.component(kind, "marker")
    assert component.kind == kind
    assert component.plugin.name.startswith("EveryKind")
    loaded = component.load()
    assert loaded.help == kind
    assert session.problems == []
