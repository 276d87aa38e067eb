"""Vision-language SFT: `plugtune train` against the plain transformers recipe.

One run, the same model (tiny://qwen2-vl by default, ``--model tiny://llava``), the same
image conversations (LLaMA-Factory's mllm_demo, repeated to ``--records``, its seven
pictures), LoRA r=8 on the language model's linear layers, batch 4, lr 1e-4, fp32, the
same number of steps:

- plugtune: ``plugtune.training.train`` on the LLaMA-Factory dataset folder (images read
  per batch by its collator, prompts masked, the model's template);
- plain: the recipe of transformers' and TRL's VLM fine-tuning guides — a collator that
  renders each conversation with the tokenizer's chat template (``<image>`` written as the
  model's image prompt) and calls the processor on the batch's texts and images, labels
  the input ids with padding and image tokens masked — under a plain ``Trainer`` +
  ``peft.get_peft_model``.

Each contender trains in a fresh interpreter, one after the other, ``--repeat`` times
interleaved; the table shows the best run of each (samples/s over the steps after the
warm-up, timed by benchmarks/step_timer.py) and the peak RSS
(``ru_maxrss``) of its process.

    python benchmarks/vlm_training.py [--steps 30] [--records 64] [--repeat 2]
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

SCRIPT = Path(__file__).resolve()
FIXTURES = SCRIPT.parents[2] / "shared" / "fixtures" / "llamafactory_data"
BATCH, WARMUP = 4, 3
LANGUAGE_LINEAR = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"


def write_dataset(folder: Path, records: int) -> None:
    """mllm_demo's conversations repeated to ``records``, its pictures by absolute path."""
    demo = json.loads((FIXTURES / "mllm_demo.json").read_text(encoding="utf-8"))
    rows = []
    for index in range(records):
        row = demo[index % len(demo)]
        images = [str(FIXTURES / path) for path in row["images"]]
        rows.append({"messages": row["messages"], "images": images})
    (folder / "vlm.json").write_text(json.dumps(rows), encoding="utf-8")
    (folder / "dataset_info.json").write_text(json.dumps({"vlm": {
        "file_name": "vlm.json", "formatting": "sharegpt",
        "columns": {"messages": "messages", "images": "images"},
        "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                 "assistant_tag": "assistant"}}}), encoding="utf-8")


def shared_arguments(output: Path, steps: int) -> dict[str, Any]:
    return {"output_dir": str(output), "per_device_train_batch_size": BATCH,
            "learning_rate": 1e-4, "max_steps": steps, "logging_steps": 10,
            "save_strategy": "no", "report_to": [], "use_cpu": True, "seed": 0,
            "dataloader_num_workers": 0}


def run_plugtune(model: str, folder: Path, steps: int) -> dict[str, Any]:
    from plugtune import Session, load_config
    from plugtune.training import train

    reference, _, timers = shared_timer()
    args = shared_arguments(folder / "plugtune", steps)
    config = load_config(None, [
        f"model.path={model}", "data.train=[vlm]", f"data.dataset_dir={folder}",
        f"output.dir={args.pop('output_dir')}", "peft.target=all", "output.plot=false",
        *(f"training.{key}={json.dumps(value)}" for key, value in args.items()
          if key not in ("use_cpu", "report_to"))])
    metrics = train(config, Session(), callbacks=[reference])
    return measured(timers[-1], WARMUP, metrics["train_runtime"], {})


def run_plain(model: str, folder: Path, steps: int) -> dict[str, Any]:
    import torch
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from PIL import Image
    from transformers import AutoModelForImageTextToText, Trainer, TrainingArguments

    from plugtune.models.sources import resolve_model_path
    from plugtune.sdk.backends.processors import load_processor
    from plugtune.sdk.backends.vision import image_prompt

    _, make_timer, timers = shared_timer()
    path = resolve_model_path(model)
    processor = load_processor(path)  # AutoProcessor, or its images-only build here
    tokenizer = processor.tokenizer
    prompt = image_prompt(processor)
    image_id = tokenizer.convert_tokens_to_ids(processor.image_token)
    rows = json.loads((folder / "vlm.json").read_text(encoding="utf-8"))

    def collate(batch: list[dict[str, Any]]) -> dict[str, Any]:
        texts = [tokenizer.apply_chat_template(
            [{**m, "content": m["content"].replace("<image>", prompt)} for m in row["messages"]],
            tokenize=False) for row in batch]
        images = [Image.open(p).convert("RGB") for row in batch for p in row["images"]]
        inputs = processor(text=texts, images=images, padding=True, return_tensors="pt")
        labels = inputs["input_ids"].clone()
        labels[(inputs["attention_mask"] == 0) | (labels == image_id)] = -100
        inputs["labels"] = labels
        return dict(inputs)

    torch.manual_seed(0)
    model_ = AutoModelForImageTextToText.from_pretrained(path, dtype=torch.float32)
    model_ = get_peft_model(model_, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0,
                                               target_modules=LANGUAGE_LINEAR))
    trainer = Trainer(model=model_, args=TrainingArguments(
        **shared_arguments(folder / "plain", steps), remove_unused_columns=False),
        train_dataset=Dataset.from_list(rows), data_collator=collate,
        callbacks=[make_timer()])
    result = trainer.train()
    return measured(timers[-1], WARMUP, result.metrics["train_runtime"], {})


def contender(name: str, model: str, steps: int, records: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        write_dataset(folder, records)
        result = (run_plugtune if name == "plugtune" else run_plain)(model, folder, steps)
    return {**result, "samples_per_s": result["steps_per_s"] * BATCH}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="tiny://qwen2-vl")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--records", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--contender", choices=("plugtune", "plain"))
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if args.contender:
        report(contender(args.contender, args.model, args.steps, args.records))
        return
    arguments = ["--model", args.model, "--steps", str(args.steps), "--records",
                 str(args.records)]
    best = best_of(SCRIPT, ("plain", "plugtune"), arguments, args.repeat, "samples_per_s")
    base = best["plain"]["samples_per_s"]
    lines = ["| contender | samples/s (best) | ratio vs plain | peak RSS MiB |",
             "|---|---:|---:|---:|"]
    for name, result in best.items():
        lines.append(f"| {name} | {result['samples_per_s']:.1f} | "
                     f"{result['samples_per_s'] / base:.2f}x | {result['peak_rss_mib']:,.0f} |")
    lines.append(f"\n{args.model}, {args.steps} steps of batch {BATCH} ({WARMUP} warm-up), "
                 f"{args.records} records, best of {args.repeat}; "
                 f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores.")
    publish("\n".join(lines), f"vlm_training_{args.model.split('/')[-1]}",
            f"Vision-language SFT on {args.model}", " ".join(sys.argv), write=not args.no_write)


if __name__ == "__main__":
    main()
