"""Perplexity: exp(total NLL / total answer tokens), checked against model(...).loss."""

from __future__ import annotations

import json
import math

import pytest
import torch

from plugtune import Session
from plugtune.core.config import RunConfig
from plugtune.core.errors import ConfigError
from plugtune.core.interfaces import AnswerLoss
from plugtune.core.records import Conversation, Message
from plugtune.data.encoding import IGNORE_INDEX, EncodingOptions, encode_conversations
from plugtune.evaluation.teacher_forcing import TeacherForcingScorer
from plugtune.inference import predict
from plugtune.inference.predict import load_backend
from plugtune.plugins.metrics.perplexity import Perplexity
from tests.conftest import REPO, EchoBackend

ALPACA = REPO / "examples" / "data" / "tiny_alpaca.jsonl"
PROMPTS = [
    Conversation((Message("user", "What is LoRA?"),), origin="a"),
    Conversation((Message("system", "Be brief."), Message("user", "Translate: cat")), origin="b"),
]
ANSWERS = ["Low-rank adapters on frozen weights.", "猫"]


class FixedScorer:
    def __init__(self, losses):
        self.losses = losses

    def answer_losses(self, prompts, answers):
        assert len(prompts) == len(answers)
        return self.losses


def test_perplexity_pools_nll_over_tokens_and_scores_each_sample():
    losses = [AnswerLoss(6.0, 3), AnswerLoss(1.0, 1)]
    scores = Perplexity().score_with_model(FixedScorer(losses), PROMPTS, ANSWERS)
    assert scores.corpus == {"perplexity": pytest.approx(math.exp(7 / 4))}
    assert scores.samples == [{"perplexity": pytest.approx(math.exp(2))},
                              {"perplexity": pytest.approx(math.exp(1))}]


def test_perplexity_without_a_model_says_where_to_use_it():
    with pytest.raises(ConfigError, match="with the model"):
        Perplexity()(["a"], ["a"])


@pytest.fixture(scope="module")
def backend():
    return load_backend(RunConfig(), Session())


def _hand_loss(backend, prompt, answer):
    """model(ids, labels=labels).loss on the encoded conversation, and its token count."""
    conversation = Conversation((*prompt.messages, Message("assistant", answer)))
    (example,), _ = encode_conversations(
        [conversation], backend.template, backend.tokenizer, EncodingOptions(train_on="last"))
    model = backend._loaded()
    with torch.no_grad():
        loss = model(input_ids=torch.tensor([example.input_ids]),
                     labels=torch.tensor([example.labels])).loss
    counted = sum(label != IGNORE_INDEX for label in example.labels[1:])
    return float(loss), counted


def test_perplexity_matches_model_loss_on_the_same_tokens(backend):
    scorer = backend.scorer()
    assert isinstance(scorer, TeacherForcingScorer)
    scorer.batch_size = 2  # both samples in one right-padded batch
    hand = [_hand_loss(backend, p, a) for p, a in zip(PROMPTS, ANSWERS, strict=True)]
    scores = Perplexity().score_with_model(scorer, PROMPTS, ANSWERS)
    assert [s["perplexity"] for s in scores.samples] == pytest.approx(
        [math.exp(loss) for loss, _ in hand], rel=1e-5)
    total = sum(loss * count for loss, count in hand) / sum(count for _, count in hand)
    assert scores.corpus["perplexity"] == pytest.approx(math.exp(total), rel=1e-5)


def test_predict_scores_perplexity_of_the_references(tmp_path, backend):
    config = RunConfig.model_validate({
        "data": {"test": [str(ALPACA)]},
        "generation": {"max_new_tokens": 2},
        "evaluation": {"metrics": ["perplexity", "exact_match"]},
    })
    out = tmp_path / "generated_predictions.jsonl"
    result = predict(config, Session(), limit=2, out=out, backend=backend)
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    hand = [_hand_loss(backend, Conversation((Message("user", line["prompt"][0]["content"]),)),
                       line["label"]) for line in lines]
    samples = [json.loads(line) for line in
               (tmp_path / "predict_samples.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [s["perplexity"]["perplexity"] for s in samples] == pytest.approx(
        [math.exp(loss) for loss, _ in hand], rel=1e-5)
    assert result.metrics["perplexity"] > 1


@pytest.mark.slow
def test_perplexity_with_another_backend_loads_the_config_model(tmp_path, backend):
    config = RunConfig.model_validate({
        "data": {"test": [str(ALPACA)]}, "evaluation": {"metrics": ["perplexity"]}})
    with_echo = predict(config, Session(), limit=3, backend=EchoBackend())
    with_model = predict(config, Session(), limit=3, backend=backend)
    assert with_echo.metrics["perplexity"] == pytest.approx(with_model.metrics["perplexity"],
                                                            rel=1e-5)
    echo = [s["perplexity"]["perplexity"] for s in with_echo.samples]
    model = [s["perplexity"]["perplexity"] for s in with_model.samples]
    assert len(echo) == 3 and echo == pytest.approx(model, rel=1e-5)
