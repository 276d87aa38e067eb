"""DPO throughput: `plugtune train` (trainer dpo) against TRL's DPOTrainer run the plain way.

One run, the same model (tiny://qwen2), the same pairs (LLaMA-Factory's dpo_en_demo, the
ones that fit ``--cutoff`` tokens, so neither tool cuts any), LoRA r=8 on every linear
layer, batch 4, lr 1e-4, beta 0.1, sigmoid loss, fp32, seed 42, the same steps:

- plugtune: ``plugtune.training.train`` with ``trainer: dpo`` (its pair rows, rendered by
  the run's template; ``data.train_suffix`` so the answers end as TRL's do; TRL's fused
  log-probability calls made padding-free); a second row pads (``data.padding_free:
  false``), to show what that is worth;
- TRL: ``DPOTrainer`` on the same pairs as conversational prompt/chosen/rejected
  messages, the model made a PEFT model by ``get_peft_model`` after ``set_seed``, and
  ``DPOConfig`` at its defaults — gradient checkpointing included — except what it needs
  to run on a CPU in fp32, the settings both share, and counting the non-pad tokens.

Each contender trains in a fresh interpreter, one after another, ``--repeat`` times
interleaved; speed is non-pad tokens/s between the end of the warm-up steps and the last
step (the same callback for both), the table shows the best run of each, the peak RSS of
its process, and the largest difference between the two tools' per-step losses.

    python benchmarks/dpo.py [--steps 15] [--repeat 2] [--cutoff 512]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from contenders import best_of, report
from results_file import publish
from step_timer import measured, shared_timer
from training import alpaca_path

SCRIPT = Path(__file__).resolve()
MODEL = "tiny://qwen2"
BATCH, WARMUP, LR, BETA, SEED = 4, 3, 1e-4, 0.1, 42
TARGET = 1.2  # issue 18: >= 1.2x TRL's DPOTrainer
#: plugtune as it runs (padding-free) and with padded batches, to show what that is worth
CONTENDERS = ("trl", "plugtune", "plugtune-padded")


def fitting_pairs(folder: Path, cutoff: int) -> int:
    """LLaMA-Factory's dpo_en_demo pairs whose prompt and longer answer fit ``cutoff``
    tokens of the tiny tokenizer (with room for the template), as a dataset folder."""
    from plugtune.core.config import ModelConfig
    from plugtune.data.tokenizer import load_tokenizer

    source = alpaca_path().parent
    rows = json.loads((source / "dpo_en_demo.json").read_text(encoding="utf-8"))
    tokenizer = load_tokenizer(ModelConfig(path=MODEL))

    def length(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    kept = [row for row in rows
            if sum(length(turn["value"]) for turn in row["conversations"])
            + max(length(row["chosen"]["value"]), length(row["rejected"]["value"]))
            + 16 * (len(row["conversations"]) + 2) <= cutoff]
    (folder / "pairs.json").write_text(json.dumps(kept), encoding="utf-8")
    info = json.loads((source / "dataset_info.json").read_text(encoding="utf-8"))["dpo_en_demo"]
    (folder / "dataset_info.json").write_text(json.dumps(
        {"pairs": {**info, "file_name": "pairs.json"}}), encoding="utf-8")
    return len(kept)


def run_plugtune(folder: Path, steps: int, cutoff: int, padding_free: bool = True
                 ) -> dict[str, Any]:
    from plugtune import Session, load_config
    from plugtune.training import train

    reference, _, timers = shared_timer()
    config = load_config(None, [
        f"model.path={MODEL}", "trainer={name: dpo, beta: 0.1}", "data.train=[pairs]",
        f"data.dataset_dir={folder}", f"data.cutoff_len={cutoff}", "data.train_suffix=true",
        f"data.padding_free={str(padding_free).lower()}",
        "peft.type=lora", "peft.r=8", "peft.alpha=16", "peft.target=all",
        f"training.per_device_train_batch_size={BATCH}", f"training.learning_rate={LR}",
        f"training.max_steps={steps}", f"training.seed={SEED}", "training.logging_steps=1",
        "training.save_strategy=no", "training.report_to=none",
        f"output.dir={folder / 'plugtune'}", "output.plot=false"])
    metrics = train(config, Session(), callbacks=[reference])
    return measured(timers[-1], WARMUP, metrics["train_runtime"],
                    {"losses": logged_losses(folder / "plugtune" / "trainer_log.jsonl")})


def logged_losses(log: Path) -> list[float]:
    entries = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    return [entry["loss"] for entry in entries if "loss" in entry]


def run_trl(folder: Path, steps: int, cutoff: int) -> dict[str, Any]:
    import torch
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed
    from trl import DPOConfig, DPOTrainer

    from plugtune import Session
    from plugtune.core.config import DataConfig
    from plugtune.data import load_dataset
    from plugtune.models.sources import resolve_model_path

    _, make_timer, timers = shared_timer()
    records, _ = load_dataset("pairs", Session(), config=DataConfig(dataset_dir=str(folder)))
    rows = [{"prompt": [{"role": m.role, "content": m.content} for m in r.prompt.messages],
             "chosen": [{"role": "assistant", "content": r.chosen.content}],
             "rejected": [{"role": "assistant", "content": r.rejected.content}]}
            for r in records]
    path = resolve_model_path(MODEL)
    tokenizer = AutoTokenizer.from_pretrained(path)
    set_seed(SEED)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0,
                                             target_modules="all-linear"))
    args = DPOConfig(
        output_dir=str(folder / "trl"), per_device_train_batch_size=BATCH, learning_rate=LR,
        max_steps=steps, seed=SEED, beta=BETA, logging_steps=1, save_strategy="no",
        report_to="none", use_cpu=True, bf16=False, max_length=cutoff,
        include_num_input_tokens_seen="non_padding")  # counted as plugtune counts
    trainer = DPOTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows),
                         processing_class=tokenizer, callbacks=[make_timer()])
    result = trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    return measured(timers[-1], WARMUP, result.metrics["train_runtime"], {"losses": losses})


def contender(name: str, steps: int, cutoff: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        pairs = fitting_pairs(folder, cutoff)
        if name == "trl":
            result = run_trl(folder, steps, cutoff)
        else:
            result = run_plugtune(folder, steps, cutoff, padding_free=name == "plugtune")
    return {**result, "pairs": pairs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--cutoff", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--contender", choices=CONTENDERS)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if args.contender:
        report(contender(args.contender, args.steps, args.cutoff))
        return
    arguments = ["--steps", str(args.steps), "--cutoff", str(args.cutoff)]
    best = best_of(SCRIPT, CONTENDERS, arguments, args.repeat, "tokens_per_s")
    base = best["trl"]["tokens_per_s"]
    difference = max(abs(a - b) for a, b in zip(best["plugtune"]["losses"],
                                                best["trl"]["losses"], strict=True))
    lines = ["| contender | non-pad tokens/s (best) | ratio vs TRL | peak RSS MiB |",
             "|---|---:|---:|---:|"]
    for name, result in best.items():
        lines.append(f"| {name} | {result['tokens_per_s']:,.0f} | "
                     f"{result['tokens_per_s'] / base:.2f}x | {result['peak_rss_mib']:,.0f} |")
    ratio = best["plugtune"]["tokens_per_s"] / base
    lines.append(
        f"\n{MODEL}, {best['trl']['pairs']} pairs of dpo_en_demo within {args.cutoff} tokens, "
        f"{args.steps} steps of batch {BATCH} ({WARMUP} warm-up), best of {args.repeat}; "
        f"largest per-step loss difference {difference:.2e}; target >= {TARGET}x: "
        f"{'met' if ratio >= TARGET else 'not met'}; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores.")
    publish("\n".join(lines), "dpo", "DPO against TRL's DPOTrainer", " ".join(sys.argv),
            write=not args.no_write)


if __name__ == "__main__":
    main()
