"""Preprocessing throughput: render + tokenize + mask + truncate, in records per second.

All figures come from one run, on the same records and tokenizer (tiny://qwen2, whose
chat template is Qwen2.5's):

- plugtune: ``encode_conversations`` with the ``qwen`` template plugin;
- naive: a per-record ``tokenizer.apply_chat_template(messages, tokenize=True)`` loop
  (and it does not even mask the prompt);
- floor: one batched fast-tokenizer call on the already-rendered strings.

Target: plugtune >= 0.9x the floor (issue 18). The old ">= 3x the naive loop" target is
retired: on 2 cores the floor itself is only about 2.3x the naive loop, so no pipeline
that tokenizes every record can reach it; the ratio is still printed.

    python benchmarks/preprocessing.py [--records 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from plugtune import PluginSelection, Session
from plugtune.core.config import ModelConfig
from plugtune.core.records import Conversation, Message
from plugtune.data.encoding import EncodingOptions, encode_conversations
from plugtune.data.tokenizer import load_tokenizer

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
ALPACA = FIXTURES / "llamafactory_data" / "alpaca_en_demo.json"
WORDS = ["the", "model", "learns", "a", "low", "rank", "adapter", "for", "each", "layer",
         "模型", "学习", "低秩", "适配器", "数据"]


def generated_conversations(count: int, seed: int = 0) -> list[Conversation]:
    rng = random.Random(seed)

    def sentence() -> str:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 40)))

    conversations = []
    for index in range(count):
        messages = [Message("system", sentence())] if rng.random() < 0.3 else []
        for _ in range(rng.randint(1, 4)):
            messages += [Message("user", sentence()), Message("assistant", sentence())]
        conversations.append(Conversation(tuple(messages), origin=f"generated:{index}"))
    return conversations


def alpaca_conversations(session: Session) -> list[Conversation]:
    loader = session.build("loaders", "alpaca")
    rows = json.loads(ALPACA.read_text(encoding="utf-8"))
    return [loader.convert(row, f"{ALPACA.name}:{i}") for i, row in enumerate(rows)]


FLOOR_TARGET = 0.9


def best_of(repeat: int, work: Callable[[], object]) -> float:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        timings.append(time.perf_counter() - started)
    return min(timings)


def measure(name: str, conversations: list[Conversation], template, tokenizer, repeat: int):
    openai = [c.to_openai() for c in conversations]
    rendered = [template.render(c) for c in conversations]
    options = EncodingOptions(cutoff_len=1024)
    results = {
        "plugtune": best_of(repeat, lambda: encode_conversations(conversations, template,
                                                                  tokenizer, options)),
        "naive loop": best_of(repeat, lambda: [
            tokenizer.apply_chat_template(m, tokenize=True) for m in openai
        ]),
        "floor (batched tokenize)": best_of(repeat, lambda: tokenizer(
            rendered, add_special_tokens=False
        )),
    }
    count = len(conversations)
    print(f"\n{name}: {count} records")
    print(f"  {'pipeline':26} {'records/s':>10} {'plugtune is':>12}")
    for label, seconds in results.items():
        ratio = results[label] / results["plugtune"]
        print(f"  {label:26} {count / seconds:10.0f} {ratio:11.2f}x")
    vs_naive = results["naive loop"] / results["plugtune"]
    vs_floor = results["floor (batched tokenize)"] / results["plugtune"]
    print(f"  target: >= {FLOOR_TARGET}x floor ({vs_floor:.2f}x: "
          f"{'OK' if vs_floor >= FLOOR_TARGET else 'MISSED'}); naive loop: {vs_naive:.2f}x")
    ceiling = results["naive loop"] / results["floor (batched tokenize)"]
    print(f"  (the floor itself is {ceiling:.2f}x the naive loop here: tokenizing dominates, "
          "so no pipeline that tokenizes every record can beat that ratio)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    session = Session(selection=PluginSelection(only=frozenset()))
    tokenizer = load_tokenizer(ModelConfig(path="tiny://qwen2"))
    template = session.build("templates", "qwen")
    measure("generated", generated_conversations(args.records), template, tokenizer, args.repeat)
    if ALPACA.is_file():
        measure("alpaca_en_demo", alpaca_conversations(session), template, tokenizer, args.repeat)
    else:
        print(f"\n(alpaca_en_demo skipped: {ALPACA} not found)")


if __name__ == "__main__":
    main()
