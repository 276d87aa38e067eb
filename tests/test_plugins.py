"""Discovery through entry points, the environment switches, and broken plugins."""

from __future__ import annotations

import pytest

from plugtune import (
    DuplicateComponentError,
    PluginError,
    PluginSelection,
    Session,
    UnknownComponentError,
)

GOOD = """
from plugtune import hookimpl

def shout(prompts, completions, **kw):
    '''Counts exclamation marks.'''
    return [float(c.count("!")) for c in completions]

@hookimpl
def register_rewards(register):
    register("shout", shout)
"""

RAISING = """
from plugtune import hookimpl

@hookimpl
def register_rewards(register):
    raise RuntimeError("the GPU is on fire")

@hookimpl
def register_metrics(register):
    register("still_here", lambda predictions, references: {"x": 1.0})
"""

CLASHING = """
from plugtune import hookimpl

def shout(prompts, completions, **kw):
    return [0.0 for c in completions]

@hookimpl
def register_rewards(register):
    register("shout", shout)
"""

EVERYONE = PluginSelection(only=None)


def test_an_installed_distribution_is_found_through_its_entry_point(make_distribution):
    make_distribution("plugtune-good", {"good": "good_plugin"}, good_plugin=GOOD)
    session = Session(selection=EVERYONE)
    shout = session.component("rewards", "shout")
    assert shout.plugin.distribution == "plugtune-good"
    assert shout.plugin.version == "1.0"
    assert shout.doc == "Counts exclamation marks."
    assert session.build("rewards", "shout")([], ["hi!!"]) == [2.0]
    assert "exact_match" in session.registry("metrics")  # built-ins load the same way


def test_load_plugins_variable_selects_distributions(make_distribution, monkeypatch):
    make_distribution("plugtune-good", {"good": "good_plugin"}, good_plugin=GOOD)
    monkeypatch.setenv("PLUGTUNE_LOAD_PLUGINS", "")
    assert "shout" not in Session().registry("rewards")
    assert "exact_match" in Session().registry("metrics")  # empty: built-ins only
    monkeypatch.setenv("PLUGTUNE_LOAD_PLUGINS", "plugtune_good")  # names are normalized
    assert "shout" in Session().registry("rewards")


def test_disable_plugins_variable_switches_one_off(make_distribution, monkeypatch):
    make_distribution("plugtune-good", {"good": "good_plugin"}, good_plugin=GOOD)
    monkeypatch.delenv("PLUGTUNE_LOAD_PLUGINS")
    monkeypatch.setenv("PLUGTUNE_DISABLE_PLUGINS", "plugtune-good")
    assert "shout" not in Session().registry("rewards")
    monkeypatch.setenv("PLUGTUNE_DISABLE_PLUGINS", "plugtune:metrics")  # a built-in
    session = Session()
    assert "shout" in session.registry("rewards")
    assert "exact_match" not in session.registry("metrics")
    assert "early_stopping" in session.registry("callbacks")


def test_a_plugin_that_fails_to_import_is_reported_and_the_rest_work(make_distribution):
    make_distribution("plugtune-good", {"good": "good_plugin"}, good_plugin=GOOD)
    make_distribution(
        "plugtune-broken", {"broken": "broken_plugin"}, broken_plugin="import no_such_module_x\n"
    )
    session = Session(selection=EVERYONE)
    assert "shout" in session.registry("rewards")
    [problem] = session.problems
    assert problem.plugin.distribution == "plugtune-broken"
    assert "failed to import" in problem.message and "no_such_module_x" in problem.message
    assert "plugtune-broken" in str(problem)
    with pytest.raises(PluginError, match="plugtune-broken.*failed to import"):
        Session(selection=EVERYONE, strict=True)


def test_a_raising_hook_is_reported_and_its_other_hooks_still_count(make_distribution):
    make_distribution("plugtune-raising", {"raising": "raising_plugin"}, raising_plugin=RAISING)
    session = Session(selection=EVERYONE)
    assert "still_here" in session.registry("metrics")
    assert "exact_match" in session.registry("metrics")
    [problem] = session.problems
    assert problem.plugin.distribution == "plugtune-raising"
    assert "register_rewards raised RuntimeError('the GPU is on fire')" in problem.message
    with pytest.raises(PluginError, match="the GPU is on fire"):
        Session(selection=EVERYONE, strict=True).registry("rewards")


def test_a_name_claimed_by_two_distributions(make_distribution):
    make_distribution("plugtune-good", {"good": "good_plugin"}, good_plugin=GOOD)
    make_distribution("plugtune-clash", {"clash": "clash_plugin"}, clash_plugin=CLASHING)
    session = Session(selection=EVERYONE)
    with pytest.raises(DuplicateComponentError) as error:
        session.component("rewards", "shout")
    assert "plugtune-good" in str(error.value) and "plugtune-clash" in str(error.value)
    assert any("'shout' is also registered" in p.message for p in session.problems)
    assert "exact_match" in session.registry("metrics")  # the rest keeps working
    preferred = Session(selection=EVERYONE, prefer={"rewards.shout": "plugtune-clash"})
    assert preferred.build("rewards", "shout")([], ["!!"]) == [0.0]
    assert preferred.problems == []


def test_a_hook_that_does_not_exist_is_reported(make_distribution):
    typo = "from plugtune import hookimpl\n\n@hookimpl\ndef register_reward(register):\n    pass\n"
    make_distribution("plugtune-typo", {"typo": "typo_plugin"}, typo_plugin=typo)
    [problem] = Session(selection=EVERYONE).problems
    assert problem.message == "implements unknown hook(s): register_reward"


def test_a_hook_with_a_wrong_argument_is_reported(make_distribution):
    wrong = "from plugtune import hookimpl\n@hookimpl\ndef register_rewards(registry):\n    pass\n"
    make_distribution("plugtune-wrong", {"wrong": "wrong_plugin"}, wrong_plugin=wrong)
    [problem] = Session(selection=EVERYONE).problems
    assert "invalid hook implementation" in problem.message and "registry" in problem.message


def test_local_plugin_files_and_modules_load_once(tmp_path, make_distribution):
    make_distribution("plugtune-good", {"good": "good_plugin"}, good_plugin=GOOD)
    path = tmp_path / "local_plugin.py"
    path.write_text(GOOD.replace('"shout"', '"local_shout"'))
    session = Session(plugins=[str(path), str(path), "good_plugin"])  # twice, and a module
    assert session.component("rewards", "local_shout").plugin.name == str(path)
    assert session.component("rewards", "shout").plugin.name == "good_plugin"
    assert session.problems == []
    again = Session(plugins=[str(path)])  # a second session re-uses the imported module
    assert (
        again.component("rewards", "local_shout").load()
        is session.component("rewards", "local_shout").load()
    )


def test_an_entry_point_module_also_named_locally_registers_once(make_distribution):
    make_distribution("plugtune-good", {"good": "good_plugin"}, good_plugin=GOOD)
    session = Session(selection=EVERYONE, plugins=["good_plugin"])
    shouts = [c for c in session.registry("rewards") if c.name == "shout"]
    assert [c.plugin.distribution for c in shouts] == ["plugtune-good"]
    assert session.problems == []


def test_sessions_do_not_share_plugins(tmp_path):
    path = tmp_path / "only_here.py"
    path.write_text(GOOD.replace('"shout"', '"only_here"'))
    with_plugin = Session(plugins=[str(path)])
    without = Session()
    assert "only_here" in with_plugin.registry("rewards")
    assert "only_here" not in without.registry("rewards")


def test_an_unknown_kind_is_an_error_with_a_suggestion():
    with pytest.raises(Exception, match="no component kind 'reward' \\(did you mean 'rewards'"):
        Session().registry("reward")


def test_a_missing_component_names_the_plugins_that_failed_to_load(make_distribution):
    make_distribution(
        "plugtune-broken", {"broken": "broken_metrics"}, broken_metrics="import no_such_module_y\n"
    )
    session = Session(selection=EVERYONE)
    with pytest.raises(UnknownComponentError) as error:
        session.build("metrics", "bleurt")
    message = str(error.value)
    assert "no metric named 'bleurt'" in message
    assert "plugins that failed to load (one may provide it): plugtune-broken" in message
    assert "no_such_module_y" in message
