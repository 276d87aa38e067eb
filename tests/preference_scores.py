"""How much a model prefers each pair's chosen answer: the held-out preference accuracy
of the real-model preference runs (benchmarks/real_learning.py and
tests/test_real_preference.py score the same way).

Both the summed log-prob of an answer and its per-token mean: a one-sentence answer
beats a hundred-word one on the sum by its length alone, while a rambling answer's
repetitions make its later tokens likely, which lifts its mean. What training moved is
read against the base model: the chosen answer's log-prob rose more (or fell less) than
the rejected one's (DPO's implicit reward, ``rewards/accuracies`` in TRL's logs, on
pairs never trained on).
"""

from __future__ import annotations

from pathlib import Path


def answer_logprobs(model_path: str, pairs: list[dict[str, str]],
                    adapter: Path | None) -> list[dict[str, tuple[float, float]]]:
    """Each pair's chosen and rejected answer scored by the model (with ``adapter``):
    (summed, per-token mean) log-prob of the answer's tokens, its end of turn included,
    after the prompt in the tokenizer's own chat template (``template: auto``, as the
    pairs were trained)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from plugtune.models import resolve_model_path

    path = resolve_model_path(model_path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter)
    model.eval()
    scores = []
    for pair in pairs:
        question = [{"role": "user", "content": pair["prompt"]}]
        prompt = tokenizer.apply_chat_template(question, add_generation_prompt=True,
                                               tokenize=True, return_dict=True)["input_ids"]
        scored = {}
        for side in ("chosen", "rejected"):
            chat = [*question, {"role": "assistant", "content": pair[side]}]
            ids = tokenizer.apply_chat_template(chat, tokenize=True,
                                                return_dict=True)["input_ids"]
            with torch.no_grad():
                logits = model(torch.tensor([ids])).logits[0, len(prompt) - 1:-1]
            answer = torch.log_softmax(logits, -1).gather(
                1, torch.tensor(ids[len(prompt):])[:, None])
            scored[side] = (answer.sum().item(), answer.mean().item())
        scores.append(scored)
    return scores


def preferred(scores: list[dict[str, tuple[float, float]]], measure: int) -> float:
    """The share of pairs whose chosen answer scores above the rejected one
    (``measure`` 0: summed log-prob, 1: per token)."""
    return sum(s["chosen"][measure] > s["rejected"][measure] for s in scores) / len(scores)


def moved_towards_chosen(base: list[dict[str, tuple[float, float]]],
                         tuned: list[dict[str, tuple[float, float]]]) -> float:
    """The share of pairs whose chosen answer's summed log-prob gained on the rejected
    one's from ``base`` to ``tuned`` (scores of the same pairs)."""
    gained = [(t["chosen"][0] - b["chosen"][0]) > (t["rejected"][0] - b["rejected"][0])
              for b, t in zip(base, tuned, strict=True)]
    return sum(gained) / len(gained)
