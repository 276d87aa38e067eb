"""GRPO throughput: optimizer steps/s of plugtune's ``grpo`` trainer against TRL's
``GRPOTrainer`` given the same plain reward functions.

Both contenders get the same model (tiny://qwen2, about 5M parameters), LoRA (r=8,
alpha=16, every linear layer), prompts (the first alpaca_en_demo instructions, rendered
by the model's chat template), rewards (the built-in ``format`` and ``length`` rewards,
weights 1 and 1), num_generations 4, max_completion_length 32, batch 8 (2 prompts × 4
completions), lr 1e-4, fp32 without gradient checkpointing, seed and steps:

- plugtune: ``plugtune.training.train(config, Session())`` with ``trainer: grpo`` and
  ``rewards: [format, {name: length, target: 20}]``: what `plugtune train` runs, with
  plugtune's checked rewards, columns, callbacks (JSONL log, progress bar, truncation
  warning) and reward plot;
- TRL: ``trl.GRPOTrainer`` with ``peft_config`` and the two reward functions as the
  built-in factories return them (``format_reward()``, ``length_reward(target=20)``),
  on a ``datasets.Dataset`` of the same prompt strings. Target: plugtune >= 0.95x TRL.

The random model never emits its end-of-turn token, so every completion is 32 tokens
long in both: the same work per step. Each contender trains in a fresh interpreter, one
after another (interleaved with ``--repeat``); one callback class, shared by both, times
the steps after the warm-up. The best run of each counts; a run during which other
processes used over 10% of the machine is run again (up to 3 tries).

    python benchmarks/grpo.py [--steps 20] [--warmup 3] [--repeat 2] [--threads N]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from contenders import best_clean, least_disturbed, measured_worker
from contenders import report as print_result
from machine import CORES, IDLE_SHARE, TRIES

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

SCRIPT = Path(__file__).resolve()
REPO = SCRIPT.parents[1]
RESULTS = REPO / "benchmarks" / "results" / "grpo.md"
MODEL = "tiny://qwen2"
PROMPTS = 64
GENERATIONS, COMPLETION_TOKENS, BATCH, LR, SEED, LOG_EVERY = 4, 32, 8, 1e-4, 42, 5
LENGTH_TARGET = 20
TARGET = 0.95
CONTENDERS = {"plugtune": "plugtune grpo", "trl": "TRL GRPOTrainer"}


def prompt_rows() -> list[dict[str, Any]]:
    for root in (Path("/work/shared/fixtures"), REPO.parent / "shared" / "fixtures"):
        path = root / "llamafactory_data" / "alpaca_en_demo.json"
        if path.is_file():
            rows = json.loads(path.read_text(encoding="utf-8"))[:PROMPTS]
            return [{"prompt": "\n\n".join(filter(None, (r["instruction"], r["input"]))),
                     "answer": r["output"]} for r in rows]
    return [{"prompt": f"Describe item number {i} in a few words.", "answer": str(i)}
            for i in range(PROMPTS)]


# -- the shared timer (plugtune imports it as a callback plugin: SCRIPT:step_timer) --

TIMERS: list[Any] = []


def step_timer() -> Any:
    """A callback noting the time at the end of every optimizer step."""
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.marks: dict[int, float] = {}

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.marks[0] = time.perf_counter()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.marks[state.global_step] = time.perf_counter()

    timer = StepTimer()
    TIMERS.append(timer)
    return timer


def measured(timer: Any, warmup: int, runtime: float) -> dict[str, Any]:
    last = max(timer.marks)
    first = min(warmup, last - 1)
    seconds = timer.marks[last] - timer.marks[first]
    return {"steps": last - first, "seconds": seconds, "steps_per_s": (last - first) / seconds,
            "train_runtime": runtime,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


# -- contenders (each in its own interpreter) --


def run_plugtune(data: Path, steps: int, warmup: int, out: Path) -> dict[str, Any]:
    from plugtune import Session, load_config
    from plugtune.core.importing import import_file
    from plugtune.training import train

    config = load_config(None, [
        f"model.path={MODEL}", f"data.train=[{data}]", f"output.dir={out}",
        f"trainer={{name: grpo, num_generations: {GENERATIONS}, "
        f"max_completion_length: {COMPLETION_TOKENS}}}",
        f"rewards=[format, {{name: length, target: {LENGTH_TARGET}}}]",
        "peft.type=lora", "peft.r=8", "peft.alpha=16", "peft.dropout=0.0",
        f"training.per_device_train_batch_size={BATCH}", f"training.learning_rate={LR}",
        f"training.max_steps={steps}", f"training.seed={SEED}",
        f"training.logging_steps={LOG_EVERY}", "training.save_strategy=no",
        "training.report_to=[]",
    ])
    timers = import_file(SCRIPT).TIMERS  # the module object plugtune imports the callback from
    metrics = train(config, Session(), callbacks=[f"{SCRIPT}:step_timer"])
    return measured(timers[-1], warmup, metrics["train_runtime"])


def run_trl(data: Path, steps: int, warmup: int, out: Path) -> dict[str, Any]:
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from plugtune.models.sources import resolve_model_path
    from plugtune.plugins.rewards.format import format_reward
    from plugtune.plugins.rewards.length import length_reward

    path = resolve_model_path(MODEL)
    tokenizer = AutoTokenizer.from_pretrained(path, padding_side="left")
    rows = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines()]
    prompts = [tokenizer.apply_chat_template([{"role": "user", "content": row["prompt"]}],
                                             tokenize=False, add_generation_prompt=True)
               for row in rows]
    dataset = Dataset.from_dict({"prompt": prompts, "answer": [r["answer"] for r in rows]})
    fmt, length = format_reward(), length_reward(target=LENGTH_TARGET)
    fmt.__name__, length.__name__ = "format", "length"
    args = GRPOConfig(
        output_dir=str(out), use_cpu=True, bf16=False, gradient_checkpointing=False,
        num_generations=GENERATIONS, max_completion_length=COMPLETION_TOKENS,
        per_device_train_batch_size=BATCH, learning_rate=LR, max_steps=steps, seed=SEED,
        logging_steps=LOG_EVERY, save_strategy="no", report_to="none", disable_tqdm=True,
        reward_weights=[1.0, 1.0],
    )
    trainer = GRPOTrainer(
        model=AutoModelForCausalLM.from_pretrained(path), reward_funcs=[fmt, length],
        args=args, train_dataset=dataset, processing_class=tokenizer,
        peft_config=LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0,
                               target_modules="all-linear", task_type="CAUSAL_LM"),
        callbacks=[step_timer()],
    )
    result = trainer.train()
    return measured(TIMERS[-1], warmup, result.metrics["train_runtime"])


def worker(name: str, data: Path, steps: int, warmup: int, threads: int | None) -> dict[str, Any]:
    import torch

    if threads:
        torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory(prefix=f"bench-grpo-{name}-") as folder:
        run = run_plugtune if name == "plugtune" else run_trl
        return {**run(data, steps, warmup, Path(folder) / "out"),
                "threads": torch.get_num_threads()}


def same_prompts(data: Path) -> None:
    """Check that plugtune's template renders exactly the prompts TRL is given."""
    from plugtune import Session
    from plugtune.core.config import ModelConfig
    from plugtune.data.datasets import load_dataset
    from plugtune.data.templates import resolve_template
    from plugtune.data.tokenizer import load_tokenizer
    from plugtune.training.rows.prompts import prompt_rows as plugtune_prompts

    session = Session()
    tokenizer = load_tokenizer(ModelConfig(path=MODEL))
    records, _ = load_dataset(str(data), session)
    ours, _ = plugtune_prompts(records, resolve_template(session, None, tokenizer), tokenizer)
    rows = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines()]
    theirs = [tokenizer.apply_chat_template([{"role": "user", "content": row["prompt"]}],
                                            tokenize=False, add_generation_prompt=True)
              for row in rows]
    if ours != theirs:
        raise SystemExit("plugtune and TRL would train on different prompts")


# -- the driver --


def launch(name: str, data: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Run one contender in a fresh interpreter, again when other processes took over
    ``IDLE_SHARE`` of the machine meanwhile."""
    command = [sys.executable, str(SCRIPT), "--worker", name, "--data", str(data),
               "--steps", str(args.steps), "--warmup", str(args.warmup)]
    if args.threads:
        command += ["--threads", str(args.threads)]
    return least_disturbed(name, lambda: measured_worker(command, name))


def best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return best_clean(runs, "steps_per_s")


def versions() -> str:
    from importlib.metadata import version

    return ", ".join(f"{name} {version(name)}" for name in
                     ("torch", "transformers", "peft", "trl", "datasets", "plugtune"))


def report(results: dict[str, dict[str, Any]], args: argparse.Namespace,
           load: tuple[float, float]) -> str:
    lines = ["| contender | steps/s (best) | spread | timed steps | timed s | train() s | "
             "process s | peak RSS MiB | other load |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, label in CONTENDERS.items():
        r = results[name]
        spread = f"{r['low']:.2f}-{r['high']:.2f}" if r["runs"] > 1 else "-"
        lines.append(f"| {label} | {r['steps_per_s']:.2f} | {spread} | {r['steps']} | "
                     f"{r['seconds']:.1f} | {r['train_runtime']:.1f} | {r['process_s']:.0f} | "
                     f"{r['peak_rss_mib']:,.0f} | {r['foreign']:.0%} |")
    ratio = results["plugtune"]["steps_per_s"] / results["trl"]["steps_per_s"]
    worst = results["plugtune"]["low"] / results["trl"]["high"]
    lines += [
        "",
        f"- plugtune / TRL: **{ratio:.2f}x** steps/s (target >= {TARGET}: "
        f"{'PASS' if ratio >= TARGET else 'BELOW'}; worst pairing of the runs {worst:.2f}x)",
        "",
        f"Steps: {args.steps} per contender, the first {args.warmup} not timed; best of "
        f"{args.repeat} run(s), interleaved; torch threads "
        f"{results['plugtune']['threads']}. {PROMPTS} prompts, {GENERATIONS} completions "
        f"each of {COMPLETION_TOKENS} tokens, batch {BATCH}, logging every {LOG_EVERY} "
        "steps. A run during which other processes used over "
        f"{IDLE_SHARE:.0%} of the machine (\"other load\") is run again (up to {TRIES} tries).",
        f"Machine: {platform.machine()}, {CORES} cores, Python {platform.python_version()}; "
        f"load average {load[0]:.2f} before, {load[1]:.2f} after. {versions()}.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--no-write", action="store_true", help=f"do not write {RESULTS}")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = worker(args.worker, args.data, args.steps, args.warmup, args.threads)
        print_result(result)
        return
    if args.warmup >= args.steps:
        parser.error("--warmup must be below --steps")
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in CONTENDERS}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-grpo-") as folder:
        data = Path(folder) / "prompts.jsonl"
        data.write_text("".join(json.dumps(row) + "\n" for row in prompt_rows()),
                        encoding="utf-8")
        same_prompts(data)
        for round_ in range(args.repeat):
            for name, label in CONTENDERS.items():
                result = launch(name, data, args)
                runs[name].append(result)
                print(f"[{round_ + 1}/{args.repeat}] {label}: {result['steps_per_s']:.2f} "
                      f"steps/s, process {result['process_s']:.0f} s, other load "
                      f"{result['foreign']:.0%}", flush=True)
    results = {name: best(found) for name, found in runs.items()}
    table = report(results, args, (load_before, os.getloadavg()[0]))
    print("\n" + table)
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        stamp = datetime.date.today().isoformat()
        RESULTS.write_text(f"# GRPO throughput ({stamp})\n\n`python benchmarks/grpo.py "
                           f"{' '.join(sys.argv[1:])}`\n\n{table}\n", encoding="utf-8")


if __name__ == "__main__":
    main()
