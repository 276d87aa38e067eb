"""Evaluation at parity on the real model: plugtune's multiple-choice scoring against
lm-evaluation-harness per item (tests/mc_parity.py says how), and the perplexity metric
against a plain transformers loop. The full set is benchmarks/eval_parity.py."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from plugtune import Session
from plugtune.core.config import RunConfig
from plugtune.core.records import Conversation, Message
from plugtune.inference.predict import load_backend
from plugtune.plugins.metrics.perplexity import Perplexity
from tests.conftest import REAL_MODEL, needs_real_model
from tests.mc_parity import (
    SCORE_TOLERANCE,
    Setting,
    compare,
    model_folder,
    run_lm_eval,
    run_plugtune,
)

pytestmark = needs_real_model

# Few-shot prompts on 12 questions (the first 3 of each subject), the chat template on 4.
CASES = [pytest.param(Setting(shots=1), 3, id="1-shot"),
         pytest.param(Setting(chat=True), 1, id="0-shot-chat")]


@pytest.mark.parametrize(("setting", "limit"), CASES)
@pytest.mark.slow
def test_multiple_choice_agrees_with_lm_eval_per_item(setting: Setting, limit: int,
                                                      tmp_path: Path) -> None:
    ours = run_plugtune(REAL_MODEL, setting, limit=limit)
    theirs = run_lm_eval(REAL_MODEL, setting, tmp_path, limit=limit)
    agreement = compare(ours, theirs)
    assert agreement.items == 4 * limit
    assert agreement.same_prompt == agreement.same_choice == agreement.items, agreement.differing
    assert agreement.score_gap < SCORE_TOLERANCE
    assert ours.accuracy == theirs.accuracy


CHATS = [
    ("Tell me about the Moon.",
     "The Moon is Earth's only natural satellite. It goes around the Earth about once a "
     "month, and its phases come from the changing angle of the sunlight on it."),
    ("What is photosynthesis?",
     "Photosynthesis is how plants use light to turn water and carbon dioxide into sugar, "
     "giving off oxygen."),
]


def plain_loop_perplexity(folder: str) -> tuple[float, list[float]]:
    """Perplexity of each answer the way a script would compute it with transformers alone:
    the chat rendered by the tokenizer, the tokens after the generation prompt up to and
    including the end of turn, exp(sum of their NLLs / their count); and over both
    answers pooled."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    total_nll, total_tokens, each = 0.0, 0, []
    for question, answer in CHATS:
        user = {"role": "user", "content": question}
        prompt = tokenizer.apply_chat_template([user], add_generation_prompt=True, tokenize=False)
        chat = tokenizer.apply_chat_template(
            [user, {"role": "assistant", "content": answer}], tokenize=False)
        ids = tokenizer(chat, add_special_tokens=False)["input_ids"]
        start = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
        end = ids.index(tokenizer.eos_token_id, start) + 1  # the end of turn counts
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0].double()
        log_probs = torch.log_softmax(logits, dim=-1)
        nll = -sum(float(log_probs[t - 1, ids[t]]) for t in range(start, end))
        total_nll, total_tokens = total_nll + nll, total_tokens + end - start
        each.append(math.exp(nll / (end - start)))
    return math.exp(total_nll / total_tokens), each


@pytest.mark.slow
def test_perplexity_equals_a_plain_transformers_loop() -> None:
    backend = load_backend(RunConfig.model_validate({"model": {"path": REAL_MODEL}}), Session())
    scorer = backend.scorer()
    scorer.batch_size = 2  # both answers in one right-padded batch
    prompts = [Conversation((Message("user", question),)) for question, _ in CHATS]
    scores = Perplexity().score_with_model(scorer, prompts, [answer for _, answer in CHATS])
    corpus, each = plain_loop_perplexity(model_folder(REAL_MODEL))
    assert scores.corpus["perplexity"] == pytest.approx(corpus, rel=1e-4)
    assert [s["perplexity"] for s in scores.samples] == pytest.approx(each, rel=1e-4)
