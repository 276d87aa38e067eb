"""The text metrics: hand-computed scores, Chinese segmentation, options, WordNet."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from plugtune import Session
from plugtune.core.errors import ConfigError, PlugtuneError
from plugtune.plugins.metrics import meteor, wordnet
from plugtune.plugins.metrics.accuracy import Accuracy, normalize_label
from plugtune.plugins.metrics.rouge import Rouge
from plugtune.plugins.metrics.sacrebleu_metrics import Bleu, Chrf, Ter

REF = "the cat sat on the mat"


def test_bleu_identical_is_100_and_disjoint_is_0():
    assert Bleu()([REF], [REF]) == pytest.approx(dict.fromkeys(
        ["bleu-1", "bleu-2", "bleu-3", "bleu-4"], 100.0))
    assert Bleu(smooth_method="none")(["dogs bark loudly"], [REF])["bleu-1"] == 0.0


def test_bleu_1_by_hand_precision_and_brevity_penalty():
    # one word of six wrong, same length: p1 = 5/6, BP = 1
    assert Bleu()(["the cat sat on a mat"], [REF])["bleu-1"] == pytest.approx(500 / 6)
    # three right words of a six-word reference: p1 = 1, BP = exp(1 - 6/3)
    assert Bleu()(["the cat sat"], [REF])["bleu-1"] == pytest.approx(100 * math.exp(-1))
    # bleu-2: sqrt(p1 * p2) = sqrt(5/6 * 3/5)
    assert Bleu()(["the cat sat on a mat"], [REF])["bleu-2"] == pytest.approx(
        100 * math.sqrt(5 / 6 * 3 / 5))


def test_bleu_several_references_and_samples():
    bleu = Bleu()
    assert bleu(["the cat sat on a mat"], [["x y z", "the cat sat on a mat"]])["bleu-4"] == (
        pytest.approx(100.0))
    samples = bleu.score_samples([REF, "a b"], [REF, ["a b", "c"]])
    assert [s["bleu-1"] for s in samples] == pytest.approx([100.0, 100.0])
    with pytest.raises(ConfigError, match="2 predictions but 1 references"):
        bleu([REF, REF], [REF])


def test_rouge_by_hand():
    scores = Rouge()([REF], ["the cat is on the mat"])
    # unigrams 5/6 both ways; bigrams: the cat, on the, the mat = 3 of 5; LCS 5 of 6
    assert scores == pytest.approx({"rouge-1": 5 / 6, "rouge-2": 3 / 5, "rouge-3": 1 / 4,
                                    "rouge-4": 0.0, "rouge-l": 5 / 6})


def test_chinese_rouge_needs_segmentation():
    prediction, reference = ["我喜欢吃苹果"], ["我爱吃苹果"]
    assert Rouge()(prediction, reference)["rouge-1"] == 0.0  # rouge-score drops CJK
    # jieba: 我/喜欢/吃/苹果 vs 我/爱/吃/苹果: 3 of 4 words either way
    assert Rouge(language="zh")(prediction, reference)["rouge-1"] == pytest.approx(0.75)
    assert Bleu(language="zh")(prediction, reference)["bleu-1"] > 0
    assert Ter(language="zh")(prediction, reference)["ter"] == pytest.approx(25.0)


def test_chrf_and_ter_identical_and_one_substitution():
    assert Chrf()([REF], [REF]) == {"chrf": pytest.approx(100.0)}
    assert Ter()([REF], [REF]) == {"ter": 0.0}
    assert Ter()(["the cat sat on a mat"], [REF])["ter"] == pytest.approx(100 / 6)
    assert Ter().score_samples([REF], [[REF]]) == [{"ter": 0.0}]


def test_accuracy_normalises_labels_and_finds_choices():
    assert normalize_label("  (B). ") == "b" and normalize_label("ＹＥＳ") == "yes"
    assert Accuracy()([" Paris. ", "ＹＥＳ", "no"], ["paris", "yes", "yes"])["accuracy"] == (
        pytest.approx(2 / 3))
    assert Accuracy(normalize=False)([" Paris"], ["Paris"]) == {"accuracy": 0.0}
    choice = Accuracy(choices=["A", "B", "C", "D"])
    assert choice(["The answer is (B).", "答案是C", "A", "D"], ["B", "C", "B", "D"]) == {
        "accuracy": 0.75}


def test_the_registry_lists_and_builds_every_metric():
    session = Session()
    names = {"exact_match", "accuracy", "bleu", "chrf", "ter", "rouge", "meteor"}
    assert names <= set(session.registry("metrics").names())
    bleu = session.build("metrics", {"name": "bleu", "language": "zh", "max_order": 2})
    assert set(bleu(["我喜欢吃苹果"], ["我爱吃苹果"])) == {"bleu-1", "bleu-2"}
    with pytest.raises(ConfigError, match="language"):
        session.build("metrics", {"name": "rouge", "language": "fr"})
    with pytest.raises(ConfigError, match="smooth"):
        session.build("metrics", {"name": "bleu", "smoothing": "exp"})


def test_meteor_without_wordnet_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.delenv(wordnet.WORDNET_ENV_VAR, raising=False)
    monkeypatch.setenv("PLUGTUNE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(wordnet, "DEBIAN_WORDNET", tmp_path / "none")
    monkeypatch.setattr(wordnet, "_nltk_has_wordnet", lambda: False)
    with pytest.raises(PlugtuneError, match="apt-get install wordnet-base"):
        meteor.Meteor()([REF], [REF])
    monkeypatch.setenv(wordnet.WORDNET_ENV_VAR, str(tmp_path))
    with pytest.raises(PlugtuneError, match="not a WordNet folder"):
        meteor.Meteor()([REF], [REF])


def _debian_wordnet() -> Path | None:
    """Debian's WordNet files: `make install` (its `wordnet` step) provides them wherever
    apt-get exists, or fails; so a METEOR test skips only on a machine without apt."""
    return wordnet.debian_wordnet_source()


@pytest.mark.slow
def test_meteor_scores_with_wordnet_set_up_from_debian_files(monkeypatch, tmp_path):
    source = _debian_wordnet()
    if source is None:
        pytest.skip("no Debian WordNet here: apt-get install (or download) wordnet-base")
    folder = wordnet.setup_wordnet(source, tmp_path / "wordnet")
    monkeypatch.setenv(wordnet.WORDNET_ENV_VAR, str(folder))
    reader = wordnet.load_wordnet()
    assert reader.lemma_from_key("dog%1:05:00::").synset().name() == "dog.n.01"
    scores = meteor.Meteor().score_samples(
        ["the cat was sitting on the rug", REF, "the auto is red"],
        [REF, REF, "the car is red"])
    # nltk's METEOR: 0.6148 and 0.9977 (see ENVIRONMENT.md §6); auto/car are synonyms
    assert [s["meteor"] for s in scores] == pytest.approx([0.614754, 0.997685, 0.992188],
                                                          abs=1e-6)


def test_contains_checks_the_fact_not_the_phrasing():
    from plugtune.plugins.metrics.contains import contains

    predictions = ["The capital of France is Paris.", "A week has 7 days.", "Parisian food",
                   "It has eight legs", "Rome"]
    references = ["paris", "seven|7", "Paris", ["8", "eight"], "Milan"]
    assert contains(predictions, references) == {"contains": 3 / 5}  # whole words only
    assert contains([], []) == {"contains": 0.0}
    with pytest.raises(ValueError, match="2 predictions but 1 references"):
        contains(["a", "b"], ["a"])
