"""The registry rules: lookups, suggestions, clashes, re-imports, options, code refs."""

from __future__ import annotations

import sys

import pytest
from pydantic import BaseModel, ConfigDict

from plugtune import ConfigError, DuplicateComponentError, UnknownComponentError
from plugtune.core.registry import Component, PluginInfo, Registry

ALPHA = PluginInfo("plugtune-alpha:main", "plugtune-alpha", "1.0")
BETA = PluginInfo("plugtune-beta:main", "plugtune-beta", "2.0")


def length_reward(prompts, completions, **columns):
    """Longer is better."""
    return [float(len(c)) for c in completions]


class ScaleOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    factor: float = 1.0
    offset: float = 0.0


def scaled_reward(factor: float = 1.0, offset: float = 0.0):
    return lambda prompts, completions, **kw: [factor * len(c) + offset for c in completions]


def component(name, target, plugin=ALPHA, **kwargs):
    return Component(kind="rewards", name=name, target=target, plugin=plugin, **kwargs)


def test_unknown_name_lists_known_names_and_suggests_the_closest():
    registry = Registry("rewards")
    registry.add(component("length", length_reward))
    registry.add(component("format", length_reward))
    with pytest.raises(UnknownComponentError) as error:
        registry.get("lenght")
    message = str(error.value)
    assert "no reward named 'lenght'" in message
    assert "did you mean 'length'?" in message
    assert "known: format, length" in message


def test_two_distributions_claiming_a_name_is_an_error_naming_both():
    registry = Registry("rewards")
    registry.add(component("length", length_reward, ALPHA))
    registry.add(component("length", scaled_reward, BETA))
    assert list(registry.conflicts()) == ["length"]
    with pytest.raises(DuplicateComponentError) as error:
        registry.get("length")
    assert "plugtune-alpha" in str(error.value) and "plugtune-beta" in str(error.value)
    assert "prefer" in str(error.value)


def test_a_preference_settles_a_clash():
    registry = Registry("rewards", prefer={"rewards.length": "plugtune-beta"})
    registry.add(component("length", length_reward, ALPHA))
    registry.add(component("length", scaled_reward, BETA))
    assert registry.get("length").plugin is BETA
    assert registry.conflicts() == {}


def test_a_preference_for_a_plugin_that_does_not_register_the_name_is_an_error():
    registry = Registry("rewards", prefer={"rewards.length": "plugtune-gamma"})
    registry.add(component("length", length_reward, ALPHA))
    registry.add(component("length", scaled_reward, BETA))
    with pytest.raises(DuplicateComponentError, match="plugtune-gamma"):
        registry.get("length")


def test_registering_the_same_object_twice_is_harmless():
    registry = Registry("rewards")
    registry.add(component("length", length_reward))
    registry.add(component("length", length_reward))
    assert len(list(registry)) == 1
    assert registry.get("length").load() is length_reward


def test_a_reimported_copy_from_the_same_distribution_is_harmless():
    """torchrun / accelerate re-import modules: same qualified name, new object."""
    copy = type(length_reward)(
        length_reward.__code__, length_reward.__globals__, "length_reward"
    )
    copy.__qualname__ = length_reward.__qualname__
    assert copy is not length_reward
    registry = Registry("rewards")
    registry.add(component("length", length_reward))
    registry.add(component("length", copy))
    assert registry.conflicts() == {}


def test_string_targets_import_on_first_use():
    registry = Registry("rewards")
    registry.add(component("exact", "plugtune.plugins.metrics.exact_match:exact_match"))
    from plugtune.plugins.metrics.exact_match import exact_match

    assert registry.get("exact").load() is exact_match


def test_options_are_validated_with_suggestions_and_passed_to_the_factory():
    reward = component("scaled", scaled_reward, options=ScaleOptions)
    built = reward.build({"factor": 2, "offset": 1})
    assert built([], ["ab", "abcd"]) == [5.0, 9.0]
    with pytest.raises(ConfigError, match=r"factr: unknown key \(did you mean 'factor'\?\)"):
        reward.build({"factr": 2})
    with pytest.raises(ConfigError, match="factor: Input should be a valid number"):
        reward.build({"factor": "big"})


def test_a_component_without_options_is_returned_as_registered_and_refuses_options():
    reward = component("length", length_reward)
    assert reward.build() is length_reward
    with pytest.raises(ConfigError, match="takes no options, got: target"):
        reward.build({"target": 3})


def test_an_options_class_attribute_is_found():
    class Scaled:
        """Scales lengths."""

        Options = ScaleOptions

        def __init__(self, factor: float = 1.0, offset: float = 0.0):
            self.factor = factor

    built = component("scaled", Scaled).build({"factor": 3})
    assert built.factor == 3


def test_code_references_name_local_functions(tmp_path):
    source = tmp_path / "my_rewards.py"
    source.write_text(
        "def shout(prompts, completions, **kw):\n"
        "    '''Rewards exclamation marks.'''\n"
        "    return [c.count('!') for c in completions]\n"
    )
    registry = Registry("rewards")
    found = registry.get(f"{source}:shout")
    assert found.load()([], ["a!", "b!!"]) == [1, 2]
    assert found.doc == "Rewards exclamation marks."
    assert registry.get(f"{source}:shout").load() is found.load()  # imported once
    assert registry.get("plugtune.plugins.metrics.exact_match:exact_match").name.endswith(
        "exact_match"
    )


def test_a_broken_code_reference_is_a_clear_error(tmp_path):
    source = tmp_path / "broken.py"
    source.write_text("import not_a_module_anywhere\n")
    with pytest.raises(Exception, match=r"broken.py:f: failed to import.*not_a_module"):
        Registry("rewards").get(f"{source}:f")
    with pytest.raises(Exception, match="no such Python file"):
        Registry("rewards").get(str(tmp_path / "missing.py:f"))


def test_factory_kinds_are_called_even_without_options():
    made = []

    def make_callback():
        made.append(1)
        return "callback"

    callback = Component(kind="callbacks", name="cb", target=make_callback, plugin=ALPHA)
    assert callback.build() == "callback" and made == [1]
    with pytest.raises(ConfigError, match="takes no options"):
        callback.build({"patience": 1})


def test_a_lazily_registered_component_keeps_its_options_class(tmp_path, monkeypatch):
    """``register("scaled", "module:Scaled")``: the string is imported when options are
    checked, and the class's ``Options`` validates them (it was lost before)."""
    (tmp_path / "lazy_rewards.py").write_text(
        "from pydantic import BaseModel, ConfigDict\n\n"
        "class Scaled:\n"
        "    class Options(BaseModel):\n"
        "        model_config = ConfigDict(extra='forbid')\n"
        "        factor: float = 1.0\n\n"
        "    def __init__(self, factor=1.0):\n"
        "        self.factor = factor\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    lazy = component("scaled", "lazy_rewards:Scaled")
    assert "lazy_rewards" not in sys.modules  # registering imported nothing
    assert lazy.build({"factor": 3}).factor == 3
    with pytest.raises(ConfigError, match=r"factr: unknown key \(did you mean 'factor'\?\)"):
        lazy.validate_options({"factr": 3})
    sys.modules.pop("lazy_rewards", None)
