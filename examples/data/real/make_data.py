"""Write the real-model examples' data (deterministic; the files are shipped).

    python examples/data/real/make_data.py            # the addition sets
    python examples/data/real/make_data.py --replay   # + the base model's own answers

- ``addition_train.jsonl`` / ``addition_heldout.jsonl``: two-digit additions asked for a
  bare number ("What is 51 + 29? Answer with the number only."), a task the packaged
  SmolLM2-135M-Instruct fails (it explains, or adds wrongly). No pair (a, b) of the
  held-out set is in the training set, in either order.
  ``addition_prompts.jsonl`` holds the training additions as GRPO prompts (``answer``:
  the sum, which the ``accuracy`` reward reads).
- ``general_replay.jsonl``: general instructions (``general_prompts.txt``) answered by the
  base model itself, greedily. Mixed into training, they keep the tuned model answering
  everything else as before (a narrow fine-tune alone forgets: "capital of France?" ->
  "127"). ``general_heldout.jsonl`` (written by hand, never trained on) checks that.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path

HERE = Path(__file__).parent
MODEL = "packaged://smollm2-135m-instruct"
HELD_OUT, TRAIN = 100, 800
MAX_NEW_TOKENS = 128


def addition(a: int, b: int) -> dict[str, str]:
    return {"instruction": f"What is {a} + {b}? Answer with the number only.",
            "output": str(a + b)}


def addition_sets(seed: int = 0) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    pairs = [(a, b) for a in range(10, 100) for b in range(a, 100)]
    random.Random(seed).shuffle(pairs)
    held_out, train = pairs[:HELD_OUT], pairs[HELD_OUT:HELD_OUT + TRAIN]
    order = random.Random(seed + 1)
    return ([addition(*(p if order.random() < 0.5 else p[::-1])) for p in train],
            [addition(*(p if order.random() < 0.5 else p[::-1])) for p in held_out])


def write_jsonl(path: Path, records: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


def base_model_answers(prompts: list[str]) -> list[dict[str, str]]:
    """Greedy answers of the base model; one cut off at the token limit ends at its last
    full sentence (trained as it is, it would teach the model to stop mid-sentence)."""
    from transformers import AutoTokenizer

    from plugtune import Predictor
    from plugtune.models import resolve_model_path

    answers = Predictor(MODEL, max_new_tokens=MAX_NEW_TOKENS)(prompts)
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(MODEL))
    return [{"instruction": prompt, "output": finished(answer, len(tokenizer(answer).input_ids))}
            for prompt, answer in zip(prompts, answers, strict=True)]


def finished(answer: str, tokens: int) -> str:
    """``answer`` up to its last sentence end when it used all ``MAX_NEW_TOKENS``."""
    answer = answer.strip()
    if tokens < MAX_NEW_TOKENS - 1:
        return answer
    ends = [match.end() for match in re.finditer(r"[.!?](?=\s)", answer)]
    return answer[: ends[-1]] if ends else answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replay", action="store_true",
                        help="also answer general_prompts.txt with the base model")
    args = parser.parse_args()
    train, held_out = addition_sets()
    write_jsonl(HERE / "addition_train.jsonl", train)
    write_jsonl(HERE / "addition_heldout.jsonl", held_out)
    # GRPO's prompts: the same training additions, the sum in the column rewards read
    write_jsonl(HERE / "addition_prompts.jsonl",
                [{"prompt": r["instruction"], "answer": r["output"]} for r in train])
    if args.replay:
        prompts = (HERE / "general_prompts.txt").read_text(encoding="utf-8").split("\n")
        write_jsonl(HERE / "general_replay.jsonl", base_model_answers([p for p in prompts if p]))


if __name__ == "__main__":
    main()
