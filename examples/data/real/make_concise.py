"""Write the concise-answer preference pairs of the real-model preference examples.

    python examples/data/real/make_concise.py       # ~10 minutes on one CPU thread

SmolLM2-135M-Instruct rambles: asked "Explain what a volcano is." it writes a hundred
words and more, repeating itself, until the token limit cuts it. Asked the same with
"Answer in one sentence." appended, it writes one good sentence. Both answers are the
base model's own, so the pairs teach a preference it does not have when asked plainly
(be concise) and nothing else: no facts, no style borrowed from another model.

- ``concise_train.jsonl``: 120 pairs (60 topics x 2 instructions), ``{"prompt",
  "chosen", "rejected"}``: chosen is the one-sentence answer (its first sentence),
  rejected the plain answer (cut at its last full sentence when the limit stopped it);
- ``concise_heldout.jsonl``: 40 pairs on 40 other topics (and a third wording of the
  instruction the training set never uses), never trained on.
The prompts stored are the plain instructions, without the hint.
"""

from __future__ import annotations

import re

from make_data import HERE, MAX_NEW_TOKENS, MODEL, finished, write_jsonl

HINT = " Answer in one sentence."
TRAIN_WORDINGS = ("Explain what {} is.", "Why is {} important?")
HELD_OUT_WORDINGS = (*TRAIN_WORDINGS, "Tell me about {}.")
TRAIN_TOPICS = """a volcano|photosynthesis|a rainbow|gravity|the water cycle|a black hole|
electricity|a vaccine|the internet|democracy|a glacier|an earthquake|inflation|a battery|
recycling|a comet|the immune system|a solar panel|erosion|a hurricane|DNA|the moon|
friction|a library|a telescope|composting|the heart|a desert|a bridge|magnetism|
a calendar|an orchestra|a compass|soil|a museum|the stock market|a thermometer|evaporation|
a coral reef|a password|a map|tea|a thunderstorm|sunlight|a forest|a microscope|
a bank|the ocean|a vitamin|a printing press|the alphabet|a windmill|a budget|
a mountain|an atom|a clock|a satellite|the brain|a seed|a tide""".replace("\n", "")
HELD_OUT_TOPICS = """a tornado|a cell|electric cars|a fossil|the sun|an election|a spider|
a dam|a keyboard|chocolate|a lighthouse|the ozone layer|a submarine|a wolf|coffee|
a newspaper|a kangaroo|sound|a river|a pyramid|a helicopter|wind energy|a hospital|
the Olympic Games|a camera|bread|a lake|a virus|a guitar|a harbour|a bakery|
the lungs|an airport|a robot|a marathon|a fungus|a snowflake|the equator|a penguin|
a calculator""".replace("\n", "")


def prompts(topics: str, wordings: tuple[str, ...], *, every: bool) -> list[str]:
    """Each topic in ``every`` wording, or in one wording each, taken in turn."""
    names = topics.split("|")
    if every:
        return [wording.format(name) for name in names for wording in wordings]
    return [wordings[i % len(wordings)].format(name) for i, name in enumerate(names)]


def first_sentence(answer: str) -> str:
    """The one-sentence answer up to its first sentence end (the model sometimes adds a
    second one despite the hint)."""
    answer = answer.strip()
    end = re.search(r"[.!?](?=\s|$)", answer)
    return answer[: end.end()] if end else answer


def pairs(questions: list[str]) -> list[dict[str, str]]:
    """The base model's concise and plain answers to ``questions``, greedily."""
    from transformers import AutoTokenizer

    from plugtune import Predictor
    from plugtune.models import resolve_model_path

    model = Predictor(MODEL, max_new_tokens=MAX_NEW_TOKENS)
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(MODEL))
    plain = model(questions)
    concise = model([question + HINT for question in questions])
    return [{"prompt": question, "chosen": first_sentence(short),
             "rejected": finished(long, len(tokenizer(long).input_ids))}
            for question, short, long in zip(questions, concise, plain, strict=True)]


def main() -> None:
    write_jsonl(HERE / "concise_train.jsonl",
                pairs(prompts(TRAIN_TOPICS, TRAIN_WORDINGS, every=True)))
    write_jsonl(HERE / "concise_heldout.jsonl",
                pairs(prompts(HELD_OUT_TOPICS, HELD_OUT_WORDINGS, every=False)))


if __name__ == "__main__":
    main()
