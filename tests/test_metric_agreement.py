"""plugtune's text metrics agree with the reference implementations called directly
(issue 7): sacrebleu for BLEU / chrF / TER, rouge-score for ROUGE, nltk for METEOR, on a
generated corpus of English and Chinese pairs with varying overlap, per sample and for
the corpus, within 1e-6."""

from __future__ import annotations

import random
import re

import jieba
import pytest
import sacrebleu
from rouge_score import rouge_scorer

from plugtune.plugins.metrics import wordnet
from plugtune.plugins.metrics.meteor import Meteor
from plugtune.plugins.metrics.rouge import Rouge
from plugtune.plugins.metrics.sacrebleu_metrics import Bleu, Chrf, Ter

TOLERANCE = 1e-6
PAIRS = 200

# Synonyms (car/auto, big/large), shared stems (run/running) and symbols, so that every
# matching stage of METEOR and every tokenizer rule has something to do.
EN_WORDS = (
    "the a cat dog car auto big large small red blue sat sits sitting run running runs "
    "on under mat rug house home quickly slowly eats ate fish bird sings song Paris "
    "London 42 7 , . ? ! it's don't e-mail"
)
ZH_WORDS = (
    "我 你 他 喜欢 爱 吃 苹果 香蕉 今天 明天 天气 很好 不错 北京 上海 学校 学生 老师 "
    "读书 写字 电脑 手机 快乐 高兴 。 ！ 的 了 在 是"
)
EN_VOCAB, ZH_VOCAB = EN_WORDS.split(), ZH_WORDS.split()


def corpus(vocab: list[str], joiner: str, seed: int) -> tuple[list[str], list[str]]:
    """``PAIRS`` (prediction, reference) pairs: each prediction keeps a random share
    (0 to 1) of its reference's words in place, replaces, drops or inserts the rest."""
    rng = random.Random(seed)
    predictions, references = [], []
    for index in range(PAIRS):
        reference = [rng.choice(vocab) for _ in range(rng.randint(1, 16))]
        keep = index / (PAIRS - 1)  # from disjoint-ish to identical
        prediction = []
        for word in reference:
            roll = rng.random()
            if roll < keep:
                prediction.append(word)
            elif roll < keep + (1 - keep) / 3:
                prediction.append(rng.choice(vocab))
            elif roll < keep + 2 * (1 - keep) / 3:
                continue
            else:
                prediction += [rng.choice(vocab), word]
        if index % 17 == 0:
            rng.shuffle(prediction)
        predictions.append(joiner.join(prediction))
        references.append(joiner.join(reference))
    predictions[3] = ""  # an empty prediction
    return predictions, references


EN = corpus(EN_VOCAB, " ", seed=1)
ZH = corpus(ZH_VOCAB, "", seed=2)
LANGUAGES = {"en": EN, "zh": ZH}


def jieba_words(text: str) -> list[str]:
    return [word for word in jieba.cut(text) if word.strip()]


def jieba_text(text: str) -> str:
    return " ".join(jieba_words(text))


def en_words(text: str) -> list[str]:
    return re.findall(r"\w+|[^\w\s]", text)


def close(ours: list[float], theirs: list[float]) -> None:
    assert len(ours) == len(theirs)
    worst = max(abs(a - b) for a, b in zip(ours, theirs, strict=True))
    assert worst <= TOLERANCE, worst


# --- sacrebleu -------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.slow
def test_bleu_agrees_with_sacrebleu(language):
    predictions, references = LANGUAGES[language]
    tokenize = "zh" if language == "zh" else "13a"
    bleu = Bleu(language=language)
    corpus_scores = bleu(predictions, references)
    samples = bleu.score_samples(predictions, references)
    for order in range(1, 5):
        key = f"bleu-{order}"
        theirs = sacrebleu.BLEU(max_ngram_order=order, tokenize=tokenize)
        close([corpus_scores[key]], [theirs.corpus_score(predictions, [references]).score])
        sentence = sacrebleu.BLEU(max_ngram_order=order, tokenize=tokenize,
                                  effective_order=True)
        close([s[key] for s in samples],
              [sentence.sentence_score(p, [r]).score
               for p, r in zip(predictions, references, strict=True)])
    # bleu-4 is sacrebleu's classic BLEU: its functional API gives the same
    close([corpus_scores["bleu-4"]],
          [sacrebleu.corpus_bleu(predictions, [references], tokenize=tokenize).score])
    close([s["bleu-4"] for s in samples],
          [sacrebleu.sentence_bleu(p, [r], tokenize=tokenize).score
           for p, r in zip(predictions, references, strict=True)])


def test_bleu_jieba_tokenizer_is_sacrebleu_on_jieba_words():
    predictions, references = ZH
    ours = Bleu(tokenize="jieba")(predictions, references)["bleu-4"]
    theirs = sacrebleu.corpus_bleu([jieba_text(p) for p in predictions],
                                   [[jieba_text(r) for r in references]], tokenize="none")
    close([ours], [theirs.score])


@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.parametrize("word_order", [0, 2])
@pytest.mark.slow
def test_chrf_agrees_with_sacrebleu(language, word_order):
    predictions, references = LANGUAGES[language]
    chrf = Chrf(language=language, word_order=word_order)
    # chrF++ on Chinese counts jieba's words; plain chrF sees the text as it is
    prepare = jieba_text if language == "zh" and word_order else str
    hyps, refs = [prepare(p) for p in predictions], [prepare(r) for r in references]
    theirs = sacrebleu.CHRF(word_order=word_order)
    close([chrf(predictions, references)["chrf"]], [theirs.corpus_score(hyps, [refs]).score])
    close([s["chrf"] for s in chrf.score_samples(predictions, references)],
          [theirs.sentence_score(h, [r]).score for h, r in zip(hyps, refs, strict=True)])
    if not word_order:
        close([chrf(predictions, references)["chrf"]],
              [sacrebleu.corpus_chrf(hyps, [refs]).score])


@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.slow
def test_ter_agrees_with_sacrebleu(language):
    predictions, references = LANGUAGES[language]
    ter = Ter(language=language)
    # TER splits on spaces: Chinese is compared as jieba's words
    prepare = jieba_text if language == "zh" else str
    hyps, refs = [prepare(p) for p in predictions], [prepare(r) for r in references]
    close([ter(predictions, references)["ter"]],
          [sacrebleu.corpus_ter(hyps, [refs]).score])
    close([s["ter"] for s in ter.score_samples(predictions, references)],
          [sacrebleu.sentence_ter(h, [r]).score for h, r in zip(hyps, refs, strict=True)])


def several_references(count: int = 60) -> tuple[list[str], list[list[str]]]:
    """English samples with one to three references each."""
    predictions, references = EN
    extra = corpus(EN_VOCAB, " ", seed=3)[1]
    other = corpus(EN_VOCAB, " ", seed=4)[1]
    lists = [[references[i], extra[i], other[i]][: 1 + i % 3] for i in range(count)]
    return predictions[:count], lists


def sacrebleu_streams(lists: list[list[str]]) -> list[list[str | None]]:
    """sacrebleu's own layout for varying reference counts: None where one is missing."""
    width = max(len(refs) for refs in lists)
    return [[refs[i] if i < len(refs) else None for refs in lists] for i in range(width)]


def test_several_references_agree_with_sacrebleu():
    """Samples with different numbers of references: the corpus scores are sacrebleu's
    with None in the missing places (padding with a repeated reference changed TER)."""
    predictions, lists = several_references()
    streams = sacrebleu_streams(lists)
    close([Bleu()(predictions, lists)["bleu-4"]],
          [sacrebleu.BLEU().corpus_score(predictions, streams).score])
    close([Chrf()(predictions, lists)["chrf"]],
          [sacrebleu.CHRF().corpus_score(predictions, streams).score])
    close([Ter()(predictions, lists)["ter"]],
          [sacrebleu.TER().corpus_score(predictions, streams).score])
    close([s["ter"] for s in Ter().score_samples(predictions, lists)],
          [sacrebleu.sentence_ter(p, refs).score
           for p, refs in zip(predictions, lists, strict=True)])
    close([s["bleu-4"] for s in Bleu().score_samples(predictions, lists)],
          [sacrebleu.sentence_bleu(p, refs).score
           for p, refs in zip(predictions, lists, strict=True)])


# --- rouge-score ----------------------------------------------------------------------------


class JiebaTokenizer:
    """The tokenizer rouge-score is given for Chinese: jieba's words, lowercased."""

    def tokenize(self, text: str) -> list[str]:
        return [word.lower() for word in jieba_words(text)]


ROUGE_TYPES = {"rouge-1": "rouge1", "rouge-2": "rouge2", "rouge-3": "rouge3",
               "rouge-4": "rouge4", "rouge-l": "rougeL"}


# The Porter stemmer is for English only.
@pytest.mark.parametrize(("language", "use_stemmer"), [("en", False), ("en", True), ("zh", False)])
@pytest.mark.slow
def test_rouge_agrees_with_rouge_score(language, use_stemmer):
    predictions, references = LANGUAGES[language]
    scorer = rouge_scorer.RougeScorer(
        list(ROUGE_TYPES.values()), use_stemmer=use_stemmer,
        tokenizer=JiebaTokenizer() if language == "zh" else None)
    theirs = [scorer.score(r, p) for p, r in zip(predictions, references, strict=True)]
    rouge = Rouge(language=language, use_stemmer=use_stemmer)
    samples = rouge.score_samples(predictions, references)
    corpus_scores = rouge(predictions, references)
    for key, kind in ROUGE_TYPES.items():
        values = [t[kind].fmeasure for t in theirs]
        close([s[key] for s in samples], values)
        close([corpus_scores[key]], [sum(values) / len(values)])
    if language == "zh":
        assert corpus_scores["rouge-1"] > 0.1  # jieba's words, not rouge-score's CJK drop


# --- nltk -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wordnet_folder(tmp_path_factory):
    """WordNet as tests/test_metrics.py finds it: Debian's files, set up by plugtune."""
    source = wordnet.debian_wordnet_source()
    if source is None:
        pytest.skip("no Debian WordNet here: apt-get install (or download) wordnet-base")
    folder = wordnet.setup_wordnet(source, tmp_path_factory.mktemp("nltk") / "wordnet")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(wordnet.WORDNET_ENV_VAR, str(folder))
        yield folder


@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.slow
def test_meteor_agrees_with_nltk(language, wordnet_folder):
    from nltk.translate.meteor_score import meteor_score

    # nltk's WordNet reader on that folder (plugtune's loader only says where it is)
    reader = wordnet.load_wordnet()
    predictions, references = LANGUAGES[language]
    words = jieba_words if language == "zh" else en_words
    theirs = [meteor_score([words(r)], words(p), wordnet=reader)
              for p, r in zip(predictions, references, strict=True)]
    metric = Meteor(language=language)
    close([s["meteor"] for s in metric.score_samples(predictions, references)], theirs)
    close([metric(predictions, references)["meteor"]], [sum(theirs) / len(theirs)])
    if language == "en":
        assert 0.05 < sum(theirs) / len(theirs) < 0.95  # the corpus spans the range
