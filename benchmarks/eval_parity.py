"""Multiple-choice evaluation at parity with lm-evaluation-harness on the real model.

The 40 questions of ``examples/benchmarks/general_knowledge`` (MMLU layout, 4 subjects)
on SmolLM2-135M-Instruct (``packaged://smollm2-135m-instruct``, float32): ``plugtune
eval``'s scoring (``run_benchmark``) against lm-eval's ``simple_evaluate`` with its ``hf``
model on the same model folder and local JSON tasks built like its own MMLU task
(``tests/mc_parity.py`` says how, and the scoring convention both follow). Per setting
(0-shot, 5-shot, 0-shot with the chat template):

- same prompt / same choice: items whose prompt text and chosen letter are equal;
- max score gap: the largest difference between the tools' letter-score differences
  (plugtune's logits and lm-eval's log-likelihoods differ by one constant per item);
- accuracy of each tool, and each tool's wall time from the model folder to the scores
  (model load included; both loaded once untimed beforehand, so imports and the first
  read of the weights count for neither), their ratio, and the share of the machine
  other processes used meanwhile. A timing during which that share was over 10 % is
  taken again (up to 3 tries; the least disturbed is kept).

``--threads`` sets torch's threads for both tools. On a machine where another process
keeps one of 2 cores busy, 2 threads make every operation wait for the thread that was
descheduled (an element-wise op measured 4x slower than with 1 thread), which distorts
the ratio; ``--threads 1`` gives each tool the same single core.

    python benchmarks/eval_parity.py [--batch-size 8] [--threads N] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from pathlib import Path

from machine import CORES, timed
from results_file import publish

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.mc_parity: the comparison the test makes too

MODEL = "packaged://smollm2-135m-instruct"


def main() -> None:
    from tests.mc_parity import Setting, compare, run_lm_eval, run_plugtune

    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    work = Path(tempfile.mkdtemp(prefix="eval-parity-"))
    warm = Setting()
    run_plugtune(MODEL, warm, limit=1)
    run_lm_eval(MODEL, warm, work / "warm", limit=1)
    lines = [
        f"SmolLM2-135M-Instruct (float32), {CORES} cores, torch {torch.__version__} "
        f"({torch.get_num_threads()} thread(s)), Python {platform.python_version()}, batch "
        f"{args.batch_size} for both tools. Other load: the share of all {CORES} cores that "
        "other processes used while the tool ran.",
        "",
        "| setting | items | same prompt | same choice | max score gap | plugtune acc | "
        "lm-eval acc | plugtune s | lm-eval s | lm-eval / plugtune | other load |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for setting in (Setting(), Setting(shots=5), Setting(chat=True)):
        print(f"{setting.label} ...", flush=True)
        ours, our_s, our_load = timed(lambda s=setting: run_plugtune(
            MODEL, s, batch_size=args.batch_size))
        theirs, their_s, their_load = timed(lambda s=setting: run_lm_eval(
            MODEL, s, work / s.label.replace(" ", "-"), batch_size=args.batch_size))
        agreement = compare(ours, theirs)
        for line in agreement.differing:
            print("  differs:", line)
        lines.append(
            f"| {setting.label} | {agreement.items} | {agreement.same_prompt} | "
            f"{agreement.same_choice} | {agreement.score_gap:.1e} | {ours.accuracy:.3f} | "
            f"{theirs.accuracy:.3f} | {our_s:.1f} | {their_s:.1f} | {their_s / our_s:.2f}x | "
            f"{our_load:.0%} / {their_load:.0%} |")
    publish("\n".join(lines), "eval_parity", "Multiple-choice parity with lm-eval",
            "python " + " ".join(["benchmarks/eval_parity.py", *sys.argv[1:]]),
            write=not args.no_write)


if __name__ == "__main__":
    main()
