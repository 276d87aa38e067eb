"""Training throughput: non-pad tokens/s of `plugtune train` against its baselines.

All figures come from one run of this script, with the same model (tiny://qwen2, about
5M parameters), data (LLaMA-Factory's alpaca_en_demo), LoRA (r=8, alpha=16, every
linear layer), batch 8, cutoff 256, lr 1e-4, fp32, seed and number of steps:

- plugtune: ``plugtune.training.train(config, Session())``, what `plugtune train` runs
  (padding-free batches, the output layer on trained positions only); a second row pads
  its batches (``data.padding_free: false``) and a third turns off the output layer on
  trained positions only (``CountingTrainer.trained_logits_only``), to show what each
  is worth;
- lean: the examples plugtune encoded, as a ``datasets.Dataset``, trained by a plain
  transformers ``Trainer`` + ``peft.get_peft_model`` + ``DataCollatorForSeq2Seq``
  (what LLaMA-Factory runs underneath). Target: plugtune >= 1.3x lean;
- TRL: ``SFTTrainer`` at its defaults on the same records as conversational
  ``messages`` (``max_length`` 256). Only what it needs to run here and the settings
  every contender shares are changed (``SHARED`` and ``trl_config``); its own defaults,
  gradient checkpointing included, stay. A second TRL row turns checkpointing off, to
  show what is checkpointing and what is the rest of the trainer;
- packing: plugtune with padded batches against padding-free batches and against
  ``data.packing: true`` on a length-skewed set drawn from alpaca_en_demo (its shortest
  records and a few of its longest). Target: packed >= 1.3x padded in non-pad tokens/s.

Each contender trains in a fresh interpreter, one after another, so imports and caches
are the same for all and the peak RSS (``ru_maxrss``) is its own. Speed is measured by
one callback shared by all contenders, between the end of the warm-up steps and the
last step; tokens are the non-pad input tokens the trainer counted over those steps.
``--repeat`` runs the whole set again (interleaved), the table shows the best run of
each and the spread.

    python benchmarks/training.py [--steps 60] [--warmup 5] [--repeat 2] [--quick]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from contenders import best_clean, least_disturbed, measured_worker
from contenders import report as print_result
from machine import IDLE_SHARE, TRIES, wait_until_idle
from step_timer import measured, shared_timer

SCRIPT = Path(__file__).resolve()
REPO = SCRIPT.parents[1]
DATA_NAME = "llamafactory_data/alpaca_en_demo.json"
RESULTS = REPO / "benchmarks" / "results" / "training.md"
# benchmarks/model_scale.py runs the same contenders on a larger model, smaller batches,
# and on a GPU in bfloat16
MODEL = os.environ.get("PLUGTUNE_BENCH_MODEL", "tiny://qwen2")
DTYPE = os.environ.get("PLUGTUNE_BENCH_DTYPE", "float32")
SHARED: dict[str, Any] = {  # TrainingArguments every contender gets
    "per_device_train_batch_size": int(os.environ.get("PLUGTUNE_BENCH_BATCH", "8")),
    "learning_rate": 1e-4,
    "seed": 42,
    "logging_steps": 1000,
    "report_to": "none",
    "save_strategy": "no",
}
CUTOFF = 256
LORA: dict[str, Any] = {"r": 8, "lora_alpha": 16, "lora_dropout": 0.0}
SKEWED_SHORT, SKEWED_LONG = 350, 50  # records of the length-skewed set
LEAN_TARGET, PACKING_TARGET = 1.3, 1.3  # issue 18: >= 1.3x the lean loop (LLaMA-Factory's)


def alpaca_path() -> Path:
    for root in (Path("/work/shared/fixtures"), REPO.parent / "shared" / "fixtures"):
        if (root / DATA_NAME).is_file():
            return root / DATA_NAME
    raise SystemExit(f"{DATA_NAME} not found under /work/shared/fixtures or {REPO.parent}")


# -- contenders (each in its own interpreter) --


def plugtune_overrides(data: Path, steps: int, out: Path, packing: bool,
                       padding_free: bool = True) -> list[str]:
    training = {**SHARED, "max_steps": steps}
    return [
        f"model.path={MODEL}",
        f"model.dtype={DTYPE}",
        f"data.train=[{json.dumps(str(data))}]",
        f"data.cutoff_len={CUTOFF}",
        f"data.packing={str(packing).lower()}",
        f"data.padding_free={str(padding_free).lower()}",
        "peft.type=lora", f"peft.r={LORA['r']}", f"peft.alpha={LORA['lora_alpha']}",
        "peft.target=all",
        *(f"training.{key}={value}" for key, value in training.items()),
        f"output.dir={out}", "output.overwrite=true", "output.plot=false",
    ]


def run_plugtune(data: Path, steps: int, warmup: int, out: Path, packing: bool,
                 all_logits: bool = False, padding_free: bool = True) -> dict[str, Any]:
    from plugtune import Session, load_config
    from plugtune.training import train
    from plugtune.training.speed.hf_trainer import CountingTrainer

    CountingTrainer.trained_logits_only = not all_logits

    reference, _, timers = shared_timer()
    config = load_config(None, plugtune_overrides(data, steps, out, packing, padding_free))
    metrics = train(config, Session(), callbacks=[reference])
    return measured(timers[-1], warmup, metrics["train_runtime"], {})


def encoded_examples(data: Path) -> list[dict[str, list[int]]]:
    """The examples plugtune trains on, as plain token lists (LLaMA-Factory's columns)."""
    from plugtune import Session, load_config
    from plugtune.data.prepare import prepare

    config = load_config(None, plugtune_overrides(data, 1, Path("unused"), packing=False))
    examples = prepare(config, Session()).splits["train"].examples
    return [
        {"input_ids": list(e.input_ids), "attention_mask": [1] * len(e.input_ids),
         "labels": list(e.labels)}
        for e in examples
    ]


def run_lean(data: Path, steps: int, warmup: int, out: Path) -> dict[str, Any]:
    import torch
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        DataCollatorForSeq2Seq,
        Trainer,
        TrainingArguments,
        set_seed,
    )

    from plugtune.models.sources import resolve_model_path

    _, make_timer, _ = shared_timer()
    dataset = Dataset.from_list(encoded_examples(data))
    path = resolve_model_path(MODEL)
    tokenizer = AutoTokenizer.from_pretrained(path)
    set_seed(SHARED["seed"])
    model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, DTYPE))
    model = get_peft_model(model, LoraConfig(**LORA, target_modules="all-linear",
                                             task_type="CAUSAL_LM"))
    timer = make_timer()
    trainer = Trainer(
        model=model,
        args=TrainingArguments(output_dir=str(out), use_cpu=not torch.cuda.is_available(),
                               max_steps=steps,
                               include_num_input_tokens_seen="non_padding", **SHARED),
        train_dataset=dataset,
        data_collator=DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100),
        processing_class=tokenizer,
        callbacks=[timer],
    )
    metrics = trainer.train().metrics
    return measured(timer, warmup, metrics["train_runtime"], {})


def trl_config(out: Path, steps: int, checkpointing: bool | None) -> Any:
    """SFTConfig at TRL's defaults but for: use_cpu and bf16=False (needed on this CPU:
    TRL turns bf16 on, slower here and not what the others run), max_length, the shared
    settings, and token counting."""
    from trl import SFTConfig

    changed: dict[str, Any] = {} if checkpointing is None else {
        "gradient_checkpointing": checkpointing}
    return SFTConfig(
        output_dir=str(out), use_cpu=True, bf16=False, max_length=CUTOFF, max_steps=steps,
        include_num_input_tokens_seen="non_padding", **SHARED, **changed,
    )


def run_trl(data: Path, steps: int, warmup: int, out: Path,
            checkpointing: bool | None) -> dict[str, Any]:
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTTrainer

    from plugtune import Session, load_config
    from plugtune.data.datasets import load_datasets
    from plugtune.models.sources import resolve_model_path

    _, make_timer, _ = shared_timer()
    config = load_config(None, plugtune_overrides(data, 1, Path("unused"), packing=False))
    records = load_datasets(config.data, Session()).train
    dataset = Dataset.from_list([{"messages": record.to_openai()} for record in records])
    timer = make_timer()
    args = trl_config(out, steps, checkpointing)
    trainer = SFTTrainer(
        model=str(resolve_model_path(MODEL)),
        args=args,
        train_dataset=dataset,
        peft_config=LoraConfig(**LORA, target_modules="all-linear", task_type="CAUSAL_LM"),
        callbacks=[timer],
    )
    metrics = trainer.train().metrics
    return measured(timer, warmup, metrics["train_runtime"],
                    {"gradient_checkpointing": bool(args.gradient_checkpointing)})


def worker(name: str, data: Path, steps: int, warmup: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as folder:
        out = Path(folder) / "out"
        if name == "plugtune":
            return run_plugtune(data, steps, warmup, out, packing=False)
        if name == "plugtune-all-logits":
            return run_plugtune(data, steps, warmup, out, packing=False, all_logits=True)
        if name in ("plugtune-padded", "padded"):
            return run_plugtune(data, steps, warmup, out, packing=False, padding_free=False)
        if name == "lean":
            return run_lean(data, steps, warmup, out)
        if name == "trl":
            return run_trl(data, steps, warmup, out, checkpointing=None)
        if name == "trl-no-checkpointing":
            return run_trl(data, steps, warmup, out, checkpointing=False)
        if name == "flat":
            return run_plugtune(data, steps, warmup, out, packing=False)
        if name == "packed":
            return run_plugtune(data, steps, warmup, out, packing=True)
    raise SystemExit(f"unknown contender {name!r}")


# -- the driver --

CONTENDERS: dict[str, tuple[str, str]] = {  # name: (label, dataset)
    "plugtune": ("plugtune train", "alpaca"),
    "plugtune-padded": ("plugtune train, padded batches", "alpaca"),
    "plugtune-all-logits": ("plugtune train, output layer on every position", "alpaca"),
    "lean": ("lean Trainer + PEFT (LLaMA-Factory's loop)", "alpaca"),
    "trl": ("TRL SFTTrainer, defaults", "alpaca"),
    "trl-no-checkpointing": ("TRL SFTTrainer, gradient_checkpointing=False", "alpaca"),
    "padded": ("plugtune, padded batches (skewed set)", "skewed"),
    "flat": ("plugtune, padding-free batches (skewed set)", "skewed"),
    "packed": ("plugtune, data.packing (skewed set)", "skewed"),
}


def skewed_dataset(source: Path, folder: Path) -> tuple[Path, str]:
    """The shortest ``SKEWED_SHORT`` records of alpaca_en_demo and its ``SKEWED_LONG``
    longest (cut at the cutoff), in file order: most batches of 8 hold one long record,
    so padding to it wastes most of the batch."""
    rows = json.loads(source.read_text(encoding="utf-8"))
    size = {i: sum(len(str(v)) for v in row.values()) for i, row in enumerate(rows)}
    order = sorted(size, key=lambda i: (size[i], i))
    chosen = sorted(order[:SKEWED_SHORT] + order[-SKEWED_LONG:])
    path = folder / "alpaca_skewed.json"
    path.write_text(json.dumps([rows[i] for i in chosen], ensure_ascii=False), encoding="utf-8")
    short = [size[i] for i in order[:SKEWED_SHORT]]
    long = [size[i] for i in order[-SKEWED_LONG:]]
    note = (f"{SKEWED_SHORT} shortest ({min(short)}-{max(short)} chars) + {SKEWED_LONG} "
            f"longest ({min(long)}-{max(long)} chars) records of alpaca_en_demo")
    return path, note


def launch(name: str, data: Path, steps: int, warmup: int) -> dict[str, Any]:
    """Run one contender in a fresh interpreter once the machine is quiet, again when
    other processes took over ``IDLE_SHARE`` of it meanwhile (``foreign``)."""
    command = [sys.executable, str(SCRIPT), "--worker", name, "--data", str(data),
               "--steps", str(steps), "--warmup", str(warmup)]

    def attempt() -> dict[str, Any]:
        wait_until_idle(limit=600)
        return measured_worker(command, name)

    return least_disturbed(name, attempt)


def best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The fastest clean run, the spread, and the highest peak RSS of all runs."""
    return {**best_clean(runs, "tokens_per_s"),
            "peak_rss_mib": max(run["peak_rss_mib"] for run in runs)}


def verdict(ratio: float, target: float) -> str:
    return "PASS" if ratio >= target else "BELOW"


def versions() -> str:
    from importlib.metadata import version

    return ", ".join(f"{name} {version(name)}" for name in
                     ("torch", "transformers", "peft", "trl", "datasets", "plugtune"))


def report(results: dict[str, dict[str, Any]], args: argparse.Namespace, note: str,
           load: tuple[float, float]) -> str:
    header = ("| contender | data | non-pad tok/s (best) | spread | steps/s | timed s | "
              "train() s | timed tokens | peak RSS MiB | other load |")
    lines = [header, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, (label, data) in CONTENDERS.items():
        r = results[name]
        spread = f"{r['low']:,.0f}-{r['high']:,.0f}" if r["runs"] > 1 else "-"
        lines.append(
            f"| {label} | {data} | {r['tokens_per_s']:,.0f} | {spread} | "
            f"{r['steps_per_s']:.2f} | {r['seconds']:.1f} | {r['train_runtime']:.1f} | "
            f"{r['tokens']:,} | {r['peak_rss_mib']:,.0f} | {r['foreign']:.0%} |"
        )
    speed = {name: results[name]["tokens_per_s"] for name in results}
    lean = speed["plugtune"] / speed["lean"]
    trl = speed["plugtune"] / speed["trl"]
    packed = speed["packed"] / speed["padded"]
    lean_low = results["plugtune"]["low"] / results["lean"]["high"]
    lines += [
        "",
        f"- plugtune / lean: **{lean:.2f}x** (target >= {LEAN_TARGET}: "
        f"{verdict(lean, LEAN_TARGET)}; worst pairing of the runs {lean_low:.2f}x)",
        f"- padding-free / padded batches: **{speed['plugtune'] / speed['plugtune-padded']:.2f}x**"
        f" (on the skewed set: {speed['flat'] / speed['padded']:.2f}x)",
        f"- output layer on trained positions only / on every position: **"
        f"{speed['plugtune'] / speed['plugtune-all-logits']:.2f}x**",
        f"- plugtune / TRL SFTTrainer at defaults: **{trl:.2f}x** "
        f"(TRL without checkpointing: {speed['plugtune'] / speed['trl-no-checkpointing']:.2f}x)",
        f"- packed / padded, non-pad tokens/s on the skewed set: **{packed:.2f}x** "
        f"(target >= {PACKING_TARGET}: {verdict(packed, PACKING_TARGET)})",
        "",
        f"Steps: {args.steps} per contender, the first {args.warmup} not timed; best of "
        f"{args.repeat} run(s), interleaved. A run during which other processes used over "
        f"{IDLE_SHARE:.0%} of the machine (\"other load\") is run again (up to {TRIES} "
        "tries) and counts only when no clean run exists.",
        f"Skewed set: {note}.",
        "TRL's SFTConfig: use_cpu=True, bf16=False (its default turns bf16 on), max_length, "
        "include_num_input_tokens_seen and the shared settings (batch, lr, steps, seed, "
        "logging_steps, report_to, save_strategy); the rest at its defaults "
        "(gradient_checkpointing=True, loss on every token, per-step entropy and token "
        "accuracy).",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}; "
        f"load average {load[0]:.2f} before, {load[1]:.2f} after. {versions()}.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="6 steps, 1 warm-up, once")
    parser.add_argument("--no-write", action="store_true", help=f"do not write {RESULTS}")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print_result(worker(args.worker, args.data, args.steps, args.warmup))
        return
    if args.quick:
        args.steps, args.warmup, args.repeat = 6, 1, 1
    if args.warmup >= args.steps:
        parser.error("--warmup must be below --steps")
    source = alpaca_path()
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in CONTENDERS}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-training-") as folder:
        skewed, note = skewed_dataset(source, Path(folder))
        for round_ in range(args.repeat):
            for name, (label, data) in CONTENDERS.items():
                path = source if data == "alpaca" else skewed
                result = launch(name, path, args.steps, args.warmup)
                runs[name].append(result)
                print(f"[{round_ + 1}/{args.repeat}] {label}: {result['tokens_per_s']:,.0f} "
                      f"tok/s, {result['peak_rss_mib']:,.0f} MiB, "
                      f"process {result['process_s']:.0f} s, other load "
                      f"{result['foreign']:.0%}", flush=True)
    results = {name: best(found) for name, found in runs.items()}
    table = report(results, args, note, (load_before, os.getloadavg()[0]))
    print("\n" + table)
    if not args.no_write and not args.quick:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        stamp = datetime.date.today().isoformat()
        RESULTS.write_text(
            f"# Training throughput ({stamp})\n\n"
            f"`python benchmarks/training.py --steps {args.steps} --warmup {args.warmup} "
            f"--repeat {args.repeat}`; see the script's docstring for what is compared.\n\n"
            f"{table}\n",
            encoding="utf-8",
        )
        print(f"\nwritten: {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
