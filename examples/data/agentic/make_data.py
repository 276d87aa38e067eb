"""Write the agentic examples' data (deterministic; the files are shipped).

    python examples/data/agentic/make_data.py

- ``multiply_train.jsonl`` / ``multiply_heldout.jsonl``: three-digit by two-digit
  multiplications asked for a bare number ("What is 347 * 28? Answer with the number
  only."), which the packaged SmolLM2-135M-Instruct gets wrong alone; ``answer`` is
  the product (the ``accuracy`` reward reads it). No pair is in both sets.
- ``calculator_warmup.jsonl``: a short SFT warm start that shows the ``calculator``
  environment's tool-call format on *other* arithmetic: additions and subtractions of
  four-digit numbers go through the tool, while every multiplication it shows (two
  two-digit numbers) is answered directly. So the model can make a valid call at all,
  and has only ever seen multiplications answered by heart: that a three-digit by
  two-digit product needs the calculator is left for GRPO to learn. Its ``tools`` are
  the calculator's own schema, as the run renders it.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
HELD_OUT, TRAIN, WARMUP = 100, 400, 128
QUESTION = "What is {a} {op} {b}? Answer with the number only."


def multiplication_sets(seed: int = 0) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    rng = random.Random(seed)
    pairs = sorted({(rng.randrange(100, 1000), rng.randrange(11, 100))
                    for _ in range(3 * (HELD_OUT + TRAIN))})
    rng.shuffle(pairs)

    def record(a: int, b: int) -> dict[str, str]:
        return {"prompt": QUESTION.format(a=a, op="*", b=b), "answer": str(a * b)}

    return ([record(*p) for p in pairs[HELD_OUT:HELD_OUT + TRAIN]],
            [record(*p) for p in pairs[:HELD_OUT]])


def calculator_schema() -> dict[str, Any]:
    from transformers.utils import get_json_schema

    from plugtune.plugins.environments.calculator import Calculator

    return get_json_schema(Calculator().calculate)


def warmup(seed: int = 1) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    tools = [calculator_schema()]
    records = []
    for index in range(WARMUP):
        if index % 2 == 0:  # through the tool: four-digit sums and differences
            a, b = rng.randrange(1000, 10000), rng.randrange(1000, 10000)
            op = rng.choice("+-")
            value = a + b if op == "+" else a - b
            expression = f"{a} {op} {b}"
            messages = [
                {"role": "user", "content": QUESTION.format(a=a, op=op, b=b)},
                {"role": "assistant", "content": "", "tool_calls": [
                    {"type": "function", "function": {
                        "name": "calculate", "arguments": {"expression": expression}}}]},
                {"role": "tool", "name": "calculate", "content": str(value)},
                {"role": "assistant", "content": str(value)},
            ]
        else:  # directly: products of a two-digit number and a one- or two-digit one
            a, b = rng.randrange(11, 100), rng.randrange(2, 10) if index % 8 == 1 else \
                rng.randrange(11, 100)
            op, value = "*", a * b
            messages = [{"role": "user", "content": QUESTION.format(a=a, op=op, b=b)},
                        {"role": "assistant", "content": str(value)}]
        records.append({"messages": messages, "tools": tools})
    return records


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


def main() -> None:
    train, held_out = multiplication_sets()
    assert not {r["prompt"] for r in train} & {r["prompt"] for r in held_out}
    write_jsonl(HERE / "multiply_train.jsonl", train)
    write_jsonl(HERE / "multiply_heldout.jsonl", held_out)
    write_jsonl(HERE / "calculator_warmup.jsonl", warmup())


if __name__ == "__main__":
    main()
