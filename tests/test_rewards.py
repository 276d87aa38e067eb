"""The built-in rewards, and how a run's rewards are checked, weighted and handed to TRL."""

from __future__ import annotations

import importlib.util
import math
import textwrap

import pytest

from plugtune import ConfigError, PlugtuneError, RunConfig, Session
from plugtune.plugins.rewards.accuracy import accuracy_reward, answer_matches
from plugtune.plugins.rewards.format import format_reward
from plugtune.plugins.rewards.length import length_reward
from plugtune.plugins.rewards.similarity import jaccard, similarity_reward
from plugtune.rewards import (
    NamedReward,
    RewardError,
    load_rewards,
    trl_reward_functions,
    weighted_total,
)
from plugtune.sdk.reward_text import completion_text, normalize, prompt_text, words

BUILT_INS = ["accuracy", "format", "length", "similarity"]


def chat(text):
    """A conversational completion, as TRL hands it for chat data."""
    return [{"role": "assistant", "content": text}]


@pytest.fixture(scope="module")
def session():
    return Session()


def test_the_registry_lists_the_four_built_ins_as_factories(session):
    registry = session.registry("rewards")
    assert [name for name in BUILT_INS if name in registry] == BUILT_INS
    for name in BUILT_INS:
        component = registry.get(name)
        assert component.plugin.distribution == "plugtune"
        assert component.options_model is not None and component.doc


# --- text helpers -----------------------------------------------------------------------


def test_completion_and_prompt_text_read_strings_and_conversations():
    assert completion_text("plain") == "plain"
    assert completion_text(chat("answer")) == "answer"
    parts = [{"role": "assistant", "content": [{"type": "text", "text": "a"}, {"text": "b"}]}]
    assert completion_text(parts) == "ab"
    prompt = [{"role": "system", "content": "s"}, {"role": "user", "content": "q?"}]
    assert prompt_text(prompt) == "q?" and prompt_text("q") == "q"


def test_normalize_and_words_handle_chinese():
    assert normalize("  The  ANSWER: 1,234. ") == "the answer: 1234"
    assert normalize("「北京」。") == "北京"
    assert normalize("１，２３４") == "1234"  # full-width digits and comma
    assert normalize("-3.") == "-3"
    assert words("我爱北京天安门") == ["我", "爱", "北", "京", "天", "安", "门"]
    assert words("Hello, world! 3.14 don't") == ["Hello", "world", "3.14", "don't"]


# --- length -----------------------------------------------------------------------------


def test_length_linear_counts_words_and_falls_to_zero():
    reward = length_reward(target=4)
    completions = ["one two three four", "one two", "", "a b c d e f g h", chat("one two three")]
    assert reward([None] * 5, completions) == [1.0, 0.5, 0.0, 0.0, 0.75]


def test_length_gaussian_tolerance_chars_and_one_sided():
    gaussian = length_reward(target=10, unit="chars", shape="gaussian", tolerance=2, width=4)
    values = gaussian([], ["x" * 12, "x" * 16, "  " + "x" * 6 + "  "])
    assert values[0] == 1.0
    assert values[1] == pytest.approx(math.exp(-0.5))  # 4 past the tolerance = one width
    assert values[2] == pytest.approx(math.exp(-0.5 * (2 / 4) ** 2))  # whitespace not counted
    longer = length_reward(target=2, penalize="longer")
    assert longer([], ["a", "a b c d"]) == [1.0, 0.0]


def test_length_counts_chinese_characters_as_words():
    reward = length_reward(target=4)
    assert reward([], ["我爱北京", "我爱"]) == [1.0, 0.5]


# --- format -----------------------------------------------------------------------------


def test_format_default_pattern_is_a_full_match_of_reasoning_then_answer():
    reward = format_reward()
    completions = [
        "<reasoning>\n2+2\n</reasoning>\n<answer>4</answer>\n",
        "<answer>4</answer><reasoning>x</reasoning>",
        "Sure! <reasoning>x</reasoning><answer>4</answer>",
        chat("<reasoning>a</reasoning> <answer>b</answer>"),
        "",
    ]
    assert reward([], completions) == [1.0, 0.0, 0.0, 1.0, 0.0]


def test_format_partial_credit_and_custom_pattern():
    partial = format_reward(partial=True)
    assert partial([], ["<answer>4</answer>", "no tags", "<reasoning>r</reasoning>x<answer>"]) == [
        0.25, 0.0, 0.25,
    ]
    think = format_reward(pattern=r"<think>.*?</think>.+", full_match=True)
    assert think([], ["<think>hm</think>42", "<think>hm</think>", "42"]) == [1.0, 0.0, 0.0]
    anywhere = format_reward(pattern="ANSWER:", full_match=False, ignore_case=True)
    assert anywhere([], ["so, answer: 3", "3"]) == [1.0, 0.0]


# --- accuracy ---------------------------------------------------------------------------


def test_accuracy_matches_numbers_and_normalised_text():
    reward = accuracy_reward()
    completions = [
        "<reasoning>…</reasoning><answer>1,234</answer>",
        "<answer>The total is 1234.0 dollars.</answer>",
        "I think it is 17, no, 1234",  # no tag: the last number
        "<answer>1235</answer>",
        "<answer> paris. </answer>",
        "<answer>Rome</answer>",
        chat("<answer>4</answer>"),
    ]
    answers = [1234, "1234", "1,234", 1234, "Paris", "Paris", "４"]
    assert reward([None] * 7, completions, answer=answers) == [1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0]


def test_accuracy_normalises_chinese_answers():
    reward = accuracy_reward()
    completions = ["<answer>北京。</answer>", " 「北京」！", "<answer>一共１，２００元</answer>",
                   "<answer>上海</answer>"]
    answers = ["北京", "北京", "1200", "北京"]
    assert reward([], completions, answer=answers) == [1.0, 1.0, 1.0, 0.0]


def test_accuracy_lists_of_references_missing_references_and_options():
    reward = accuracy_reward(column="gold_answers")
    completions = ["<answer>NYC</answer>", "<answer>x</answer>", "<answer>x</answer>", "x"]
    gold = [["New York", "NYC"], [], None, ""]
    assert reward([], completions, gold_answers=gold) == [1.0, None, None, None]
    strict = accuracy_reward(require_match=True)
    assert strict([], ["42", "<answer>42</answer>"], answer=[42, 42]) == [0.0, 1.0]
    loose = accuracy_reward(tolerance=0.01, extract=None)
    assert loose([], ["3.14159", "3.2"], answer=["3.14", "3.14"]) == [1.0, 0.0]
    assert answer_matches("0.5", "1/2") and not answer_matches("Paris", "paris, france")


# --- similarity -------------------------------------------------------------------------


def fake_embed(texts):
    """One-hot vectors per distinct lowercased word set: equal word sets → cosine 1."""
    vocabulary = sorted({w.casefold() for t in texts for w in words(t)}) or ["-"]
    return [[float(v in {w.casefold() for w in words(t)}) for v in vocabulary] for t in texts]


def test_similarity_arithmetic_with_an_injected_embedding():
    assert jaccard("the cat sat", "The cat ran") == 0.5
    reward = similarity_reward(embed=fake_embed, cosine_weight=0.5, jaccard_weight=0.5,
                               bad_weight=1.0)
    completions = ["the cat sat", chat("the dog"), "anything", "a b"]
    gold = [["the cat sat", "dog"], "the cat", [], ["a b"]]
    bad = [[], ["the dog"], ["x"], None]
    values = reward([], completions, gold_answers=gold, bad_answers=bad)
    # 2: gold cos("the dog", "the cat") = 1/2, jaccard 1/3; bad: identical -> 1.
    assert values == pytest.approx([1.0, 0.5 * 0.5 + 0.5 / 3 - 1.0, None, 1.0])
    assert values[2] is None


def test_similarity_extracts_the_answer_and_needs_no_bad_column():
    reward = similarity_reward(embed=fake_embed, extract=r"<answer>(.*?)</answer>")
    values = reward([], ["<reasoning>zzz</reasoning><answer>blue sky</answer>"],
                    gold_answers=[["blue sky"]])
    assert values == pytest.approx([1.0])


def test_similarity_with_the_bundled_minilm_model(session):
    reward = session.build("rewards", "similarity")
    completions = ["Paris is the capital of France.", "I like bananas.", "巴黎是法国的首都。"]
    paris = "The capital of France is Paris."
    gold = [[paris], paris, "法国的首都是巴黎"]
    bad = [["Berlin is the capital of France."], [], []]
    good, unrelated, chinese = reward([], completions, gold_answers=gold, bad_answers=bad)
    assert 0.3 < good < 1.0 and unrelated < 0.2 and chinese > 0.5
    without_bad = reward([], completions[:1], gold_answers=gold[:1])[0]
    assert without_bad > good  # the near-miss bad answer costs


def test_a_missing_embedding_package_names_the_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec",
        lambda name, *a: None if name == "sentence_transformers" else real(name, *a),
    )
    with pytest.raises(PlugtuneError, match=r"sentence-transformers.*plugtune\[rlhf\]"):
        similarity_reward()


# --- options ----------------------------------------------------------------------------


def test_unknown_and_invalid_options_are_config_errors(session):
    with pytest.raises(ConfigError, match="tolerence: unknown key \\(did you mean 'tolerance'"):
        session.build("rewards", {"name": "length", "target": 5, "tolerence": 2})
    with pytest.raises(ConfigError, match="target: Field required"):
        session.build("rewards", "length")
    with pytest.raises(ConfigError, match="not a valid regular expression"):
        session.build("rewards", {"name": "format", "pattern": "<a>(("})
    with pytest.raises(ConfigError, match="both be 0"):
        session.build("rewards", {"name": "similarity", "cosine_weight": 0, "jaccard_weight": 0})
    config = RunConfig.model_validate(
        {"rewards": [{"name": "format"}, {"name": "accuracy", "colum": "x", "weight": 2}]}
    )
    with pytest.raises(ConfigError, match="(?s)rewards\\[1\\].*colum: unknown key.*'column'"):
        session.validate(config)


def test_validate_fills_in_defaults_and_keeps_the_weight(session):
    config = RunConfig.model_validate({"rewards": [{"name": "accuracy", "weight": 2}]})
    ref = session.validate(config).rewards[0]
    assert ref.weight == 2 and ref.options["column"] == "answer"


# --- combining --------------------------------------------------------------------------


def test_weighted_total_leaves_out_rewards_that_do_not_apply(session):
    rewards = load_rewards(
        [{"name": "format", "weight": 0.5}, {"name": "accuracy", "weight": 2.0}], session
    )
    assert [(r.name, r.weight) for r in rewards] == [("format", 0.5), ("accuracy", 2.0)]
    assert all(r.origin.startswith("plugtune ") for r in rewards)  # distribution and version
    completions = [
        "<reasoning>r</reasoning><answer>4</answer>",
        "<reasoning>r</reasoning><answer>5</answer>",
        "<answer>4</answer>",
    ]
    totals, per_reward = weighted_total(rewards, ["q"] * 3, completions, answer=[4, None, 5])
    assert per_reward == {"format": [1.0, 1.0, 0.0], "accuracy": [1.0, None, 0.0]}
    assert totals == [2.5, 0.5, 0.0]  # sample 1: accuracy does not apply, format alone counts


def test_a_sample_no_reward_applies_to_has_no_total(session):
    rewards = load_rewards(["accuracy", {"name": "accuracy", "column": "gold"}], session)
    assert [r.name for r in rewards] == ["accuracy", "accuracy_2"]
    totals, _ = weighted_total(rewards, [""], ["4"], answer=[None], gold=[[]])
    assert totals == [None]


def test_trl_gets_plain_named_functions_and_weights(session):
    rewards = load_rewards([{"name": "length", "target": 2, "weight": 0.25}, "format"], session)
    functions, weights = trl_reward_functions(rewards)
    assert [f.__name__ for f in functions] == ["length", "format"] and weights == [0.25, 1.0]
    assert rewards[0].__name__ == "length"
    # TRL's call: keywords, plus completion_ids and its own extras.
    values = functions[0](prompts=["p", "p"], completions=["a b", "a"], completion_ids=[[1], [2]],
                          trainer_state=object(), log_metric=print, answer=["x", "y"])
    assert values == [1.0, 0.5]


# --- errors -----------------------------------------------------------------------------


def fussy(prompts, completions, **columns):
    if any("boom" in c for c in completions):
        raise ValueError("cannot score this")
    return [1.0] * len(completions)


def test_a_raising_reward_names_the_plugin_and_the_sample():
    reward = NamedReward("fussy", 1.0, fussy, origin="plugtune-extra 1.2")
    with pytest.raises(RewardError) as caught:
        reward(["p"] * 4, ["fine", "ok", "it went boom here", "boom"], answer=[1, 2, 3, 4])
    message = str(caught.value)
    assert "reward 'fussy' (plugtune-extra 1.2)" in message
    assert "sample 2 (completion 'it went boom here')" in message
    assert "ValueError: cannot score this" in message
    assert caught.value.index == 2 and caught.value.reward == "fussy"


def test_a_wrong_length_or_a_non_number_is_a_reward_error():
    short = NamedReward("short", 1.0, lambda prompts, completions, **kw: [1.0])
    with pytest.raises(RewardError, match="'short'.*returned 1 rewards for 3 completions; "
                                          "sample 1 \\(completion 'b'\\) has none"):
        short([], ["a", "b", "c"])
    text = NamedReward("text", 1.0, lambda prompts, completions, **kw: [1.0, "high"])
    with pytest.raises(RewardError, match="'text'.*returned 'high' for sample 1"):
        text([], ["a", "b"])
    nan = NamedReward("nan", 1.0, lambda prompts, completions, **kw: [float("nan")])
    with pytest.raises(RewardError, match="finite number, or None"):
        nan([], ["a"])
    scalar = NamedReward("scalar", 1.0, lambda prompts, completions, **kw: 1.0)
    with pytest.raises(RewardError, match="returned a float, not a list"):
        scalar([], ["a"])


def test_a_built_in_missing_its_column_is_a_reward_error(session):
    (reward,) = load_rewards(["accuracy"], session)
    with pytest.raises(RewardError, match="reward 'accuracy' \\(plugtune .*\\) failed on sample 0"
                                          ".*needs a 'answer' column"):
        reward(["p"], ["<answer>1</answer>"], solution=["1"])


# --- third-party rewards ------------------------------------------------------------------

TRL_STYLE = '''
def reasoning_len(completions, **kwargs):
    """A reward written for TRL: only keyword arguments it cares about."""
    return [min(1.0, len(c[0]["content"]) / 10) for c in completions]

def broken(completions, **kwargs):
    return [len(completions)] * (len(completions) + 1)
'''


def test_a_trl_reward_in_a_file_works_as_is(tmp_path, session):
    path = tmp_path / "my_rewards.py"
    path.write_text(textwrap.dedent(TRL_STYLE))
    fn = session.build("rewards", f"{path}:reasoning_len")
    assert fn(completions=[chat("12345")]) == [0.5]
    (reward,) = load_rewards([{"name": f"{path}:reasoning_len", "weight": 3}], session)
    assert reward.name == "reasoning_len" and reward.weight == 3 and str(path) in reward.origin
    functions, _ = trl_reward_functions([reward])
    completions = [chat("1234567890ab"), chat("")]
    assert functions[0](prompts=["p", "p"], completions=completions, completion_ids=[[1], [2]],
                        trainer_state=None) == [1.0, 0.0]
    (bad,) = load_rewards([f"{path}:broken"], session)
    with pytest.raises(RewardError, match="'broken' \\(local code .*\\) returned 3 rewards for 2"):
        bad(["p", "p"], ["a", "b"])
