"""Real learning, measured: what each trainer family does to a real model.

    python benchmarks/real_learning.py                   # every family
    python benchmarks/real_learning.py --families sft

The model is SmolLM2-135M-Instruct (``packaged://smollm2-135m-instruct``). Every number
is measured in this run, before and after training, on held-out sets never trained on,
through the same commands a user runs (``plugtune train`` / ``plugtune predict`` with
the example configs), so the baseline is the base model answering the same questions:

- sft (``examples/configs/quickstart.yaml``, for three epochs): held-out two-digit
  additions, exact match (the base model explains or adds wrongly: 0.00), and 40
  held-out general questions scored by ``contains`` (the answer mentions the fact): the
  tuned model must stay within a few points of the base model there (no collapse);
- pt (``examples/configs/pt_smollm2.yaml``): perplexity on held-out docs of a domain
  corpus (plugtune's own guides), from the trainer's eval before step 1 and after;
- grpo (``examples/configs/grpo_smollm2.yaml``), from the base model with the built-in
  ``accuracy`` reward and a reward from a file: held-out exact match and reward;
- dpo, kto, orpo, simpo (``examples/configs/dpo_smollm2.yaml``, the trainer set by
  ``--set``): the preference for one-sentence answers over the base model's rambling
  ones (both its own, ``examples/data/real/make_concise.py``). On 40 held-out pairs:
  how often the chosen answer's log-prob is above the rejected one's, per token and
  summed (tests/preference_scores.py says what each favours), and how often training
  raised the chosen one's more than the rejected one's; on the held-out prompts, the answers' mean
  length in words and the share that is one whole sentence; and the 40 general
  questions (no collapse). The base model's answers are the same for every preference
  family (same model, template and generation settings): measured once per run;
- deploy: the quickstart's run (``--deploy-run DIR``, else trained here as shipped)
  merged and exported to GGUF f16, q8_0 and q4_k_m (``plugtune export --format gguf``); the
  100 held-out additions answered by the transformers backend with the run's adapter,
  by the ``llamacpp`` backend on each file (``plugtune predict``) and by ``plugtune
  serve`` on the q4_k_m file (its OpenAI API, one request per addition): exact match,
  which deploying must keep within 2 points. llama.cpp runs on one thread.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path

from results_file import publish
from served import Server

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.preference_scores import (  # the test's scoring too
    answer_logprobs,
    moved_towards_chosen,
    preferred,
)

REPO = Path(__file__).resolve().parent.parent
CONFIGS = REPO / "examples" / "configs"
DATA = "examples/data/real"
ADDITIONS = [f"data.test=[{DATA}/addition_heldout.jsonl]", "evaluation.metrics=[exact_match]"]
GENERAL = [f"data.test=[{DATA}/general_heldout.jsonl]", "evaluation.metrics=[contains]",
           "generation.max_new_tokens=48"]
CONCISE = f"{DATA}/concise_heldout.jsonl"
# Each preference family's trainer on dpo_smollm2.yaml's pairs. dpo and simpo keep a
# likelihood term on the chosen answers (dpo's sft loss, simpo's cpo_alpha): without it,
# DPO at this learning rate learned "short" by degenerating (answers "A:", the question
# echoed, the system prompt) while its preference accuracy rose.
PREFERENCE = {
    "dpo": ["trainer={name: dpo, beta: 0.1, loss_type: [sigmoid, sft]}"],
    "kto": ["trainer={name: kto, beta: 0.1}", "training.learning_rate=2e-4"],
    "orpo": ["trainer={name: orpo, beta: 0.1}"],
    "simpo": ["trainer={name: simpo, beta: 2.0, simpo_gamma: 1.0, cpo_alpha: 1.0}"],
}


def setting(values: list[str] | tuple[str, ...]) -> list[str]:
    """``--set VALUE`` for each value."""
    return [item for value in values for item in ("--set", value)]


def plugtune(*args: str) -> float:
    """Run ``plugtune ARGS`` from the repository; its wall time in seconds."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "plugtune", *args], cwd=REPO, check=True,
                   env={**os.environ, "HF_HUB_OFFLINE": "1"}, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def predicted(config: Path, out: Path, sets: list[str], *, base: bool) -> dict[str, float]:
    """Predict a held-out set with the base model or the trained adapter; its metrics."""
    plugtune("predict", str(config), *setting(sets), "--set", f"output.dir={out.parent}",
             *(["--base"] if base else []), "--overwrite", "--out", str(out))
    return json.loads((out.parent / "predict_results.json").read_text())["metrics"]


def trained(config: Path, run: Path, *overrides: str) -> tuple[float, list[dict]]:
    """Train ``config`` into ``run``; the wall time and the trainer's log entries."""
    seconds = plugtune("train", str(config), "--set", f"output.dir={run}", *setting(overrides))
    log = (run / "trainer_log.jsonl").read_text().splitlines()
    return seconds, [json.loads(line) for line in log]


def before_after(config: Path, run: Path, sets: list[str]) -> tuple[float, float]:
    """Score ``sets`` with the base model into ``run``'s sibling, then with the adapter."""
    before = predicted(config, run.parent / f"{run.name}-base" / "p.jsonl", sets, base=True)
    after = predicted(config, run / "p.jsonl", sets, base=False)
    return next(iter(before.values())), next(iter(after.values()))


def sft(work: Path, epochs: int = 3) -> list[str]:
    """The quickstart's recipe for ``epochs`` epochs (the quickstart itself runs one)."""
    config, run = CONFIGS / "quickstart.yaml", work / "sft"
    seconds, log = trained(config, run, f"training.num_train_epochs={epochs}")
    tokens = max(entry.get("tokens", 0) for entry in log)
    add_before, add_after = before_after(config, run, ADDITIONS)
    gen_before, gen_after = before_after(config, run, GENERAL)
    return [
        f"| sft, {epochs} epochs | held-out additions, exact match | {add_before:.2f} | "
        f"**{add_after:.2f}** "
        f"| {seconds:.0f} s train, {tokens / seconds:.0f} tok/s |",
        f"| sft, {epochs} epochs | general questions (no collapse), contains | "
        f"{gen_before:.2f} | "
        f"**{gen_after:.2f}** | same run |",
    ]


def pt(work: Path) -> list[str]:
    seconds, log = trained(CONFIGS / "pt_smollm2.yaml", work / "pt")
    losses = [entry["eval_loss"] for entry in log if "eval_loss" in entry]
    return [f"| pt | held-out docs, perplexity | {math.exp(losses[0]):.2f} | "
            f"**{math.exp(losses[-1]):.2f}** | {seconds:.0f} s train |"]


def reward_accuracy(predictions: Path) -> float:
    """The run's own ``accuracy`` reward on greedy held-out answers (the answer's last
    number against the sum), averaged: what GRPO was rewarded for, on prompts it never saw."""
    from plugtune import Session

    rows = [json.loads(line) for line in predictions.read_text().splitlines()]
    reward = Session().build("rewards", "accuracy")
    scores = reward(prompts=[row["prompt"] for row in rows],
                    completions=[row["predict"] for row in rows],
                    answer=[row["label"] for row in rows])
    return sum(scores) / len(scores)


def grpo(work: Path) -> list[str]:
    config, run = CONFIGS / "grpo_smollm2.yaml", work / "grpo"
    seconds, log = trained(config, run)
    rewards = [entry["reward"] for entry in log if "reward" in entry]
    base, tuned = run.parent / "grpo-base" / "p.jsonl", run / "p.jsonl"
    exact = predicted(config, base, ADDITIONS, base=True), predicted(
        config, tuned, ADDITIONS, base=False)
    before, after = (next(iter(scores.values())) for scores in exact)
    return [
        f"| grpo | held-out additions, accuracy reward (last number) | "
        f"{reward_accuracy(base):.2f} | **{reward_accuracy(tuned):.2f}** | {seconds:.0f} s "
        f"train; training reward {rewards[0]:.2f} -> {rewards[-1]:.2f} |",
        f"| grpo | held-out additions, exact match | {before:.2f} | {after:.2f} | same run |",
    ]


def model_path(config: Path) -> str:
    """The ``model.path`` of ``config``."""
    import yaml

    return str(yaml.safe_load(config.read_text())["model"]["path"])


def answer_shape(predictions: Path) -> tuple[float, float]:
    """Mean words per answer, and the share of answers that are one whole sentence
    (a single sentence end, at the end: not cut off, not two sentences)."""
    answers = [json.loads(line)["predict"].strip()
               for line in predictions.read_text().splitlines()]
    ends = [list(re.finditer(r"[.!?](?=\s|$)", answer)) for answer in answers]
    single = [len(found) == 1 and found[0].end() == len(answer)
              for found, answer in zip(ends, answers, strict=True)]
    return (sum(len(answer.split()) for answer in answers) / len(answers),
            sum(single) / len(single))


@cache
def base_preferences(work: Path, config: Path) -> tuple[list, tuple[float, float], float]:
    """The base model on the concise held-out set: its pair scores, the shape of its
    answers and the general questions' score (the same for every preference family)."""
    pairs = [json.loads(line) for line in (REPO / CONCISE).read_text().splitlines()]
    out = work / "preference-base"
    predicted(config, out / "concise" / "p.jsonl", [f"data.test=[{CONCISE}]"], base=True)
    general = predicted(config, out / "general" / "p.jsonl", GENERAL, base=True)
    return (answer_logprobs(model_path(config), pairs, None),
            answer_shape(out / "concise" / "p.jsonl"), general["contains"])


def preference(family: str, work: Path, steps: int | None = None) -> list[str]:
    """``family`` trained on the concise pairs; the base model and the adapter on the
    held-out pairs, prompts and general questions."""
    config, run = CONFIGS / "dpo_smollm2.yaml", work / family
    steps_set = [f"training.max_steps={steps}"] if steps else []
    seconds, log = trained(config, run, *PREFERENCE[family], *steps_set)
    losses = [entry["loss"] for entry in log if "loss" in entry]
    base_scores, (base_words, base_single), base_general = base_preferences(work, config)
    pairs = [json.loads(line) for line in (REPO / CONCISE).read_text().splitlines()]
    scores = answer_logprobs(model_path(config), pairs, run)
    # the adapter is found in the predictions' folder (output.dir): the run's
    predicted(config, run / "concise.jsonl", [f"data.test=[{CONCISE}]"], base=False)
    words, single = answer_shape(run / "concise.jsonl")
    general = predicted(config, run / "general.jsonl", GENERAL, base=False)["contains"]
    return [
        f"| {family} | held-out pairs, chosen above rejected (per-token log-prob) | "
        f"{preferred(base_scores, 1):.2f} | **{preferred(scores, 1):.2f}** | "
        f"{seconds:.0f} s train; loss {losses[0]:.3f} -> {losses[-1]:.3f} |",
        f"| {family} | held-out pairs, chosen above rejected (summed log-prob) | "
        f"{preferred(base_scores, 0):.2f} | {preferred(scores, 0):.2f} | same run |",
        f"| {family} | held-out pairs, chosen gained on rejected against the base model "
        f"(DPO's reward accuracy) | — | **{moved_towards_chosen(base_scores, scores):.2f}** "
        f"| same run |",
        f"| {family} | held-out prompts, mean words per answer | {base_words:.1f} | "
        f"**{words:.1f}** | same run |",
        f"| {family} | held-out prompts, one whole sentence | {base_single:.2f} | "
        f"**{single:.2f}** | same run |",
        f"| {family} | general questions (no collapse), contains | {base_general:.2f} | "
        f"**{general:.2f}** | same run |",
    ]


def llamacpp(gguf: Path) -> str:
    """The ``backend`` override that answers with ``gguf`` through llama.cpp."""
    return f"backend={{name: llamacpp, model_file: {gguf}, n_threads: 1}}"


def served_exact_match(gguf: Path, folder: Path) -> float:
    """``plugtune serve`` on ``gguf`` (llamacpp backend), asked each held-out addition
    through its chat completions API: the answers' exact match."""
    import httpx

    from plugtune import Session

    rows = [json.loads(line) for line in (REPO / DATA / "addition_heldout.jsonl")
            .read_text().splitlines()]
    folder.mkdir()
    server = Server(folder, None, new_tokens=32, batch=1,
                    model=model_path(CONFIGS / "quickstart.yaml"),
                    options=["--set", llamacpp(gguf), "--base"])
    with server, httpx.Client() as client:
        answers = [server.ask(client, [{"role": "user", "content": row["instruction"]}])
                   for row in rows]
    metric = Session().build("metrics", "exact_match")
    return metric(answers, [row["output"] for row in rows])["exact_match"]


def deploy(work: Path, run: Path | None = None) -> list[str]:
    """The quickstart's run exported to GGUF and served: held-out exact match against
    the transformers backend's with the run's adapter."""
    config = CONFIGS / "quickstart.yaml"
    if run is None:
        run, (seconds, _) = work / "quickstart", trained(config, work / "quickstart")
        origin = f"trained here as shipped ({seconds:.0f} s)"
    else:  # a copy: predictions and exports never write into the user's run
        origin = f"{run}, reused"
        run = Path(shutil.copytree(run, work / "quickstart"))
    reference = predicted(config, run / "additions.jsonl", ADDITIONS, base=False)["exact_match"]
    rows = [f"| transformers backend, the run's adapter ({origin}) | {reference:.2f} | — | |"]
    for quant in ("f16", "q8_0", "q4_k_m"):  # serve: the last, the smallest
        folder = work / f"gguf-{quant}"
        seconds = plugtune("export", str(config), "--set", f"output.dir={run}",
                           "--format", "gguf", "--quant", quant, "--to", str(folder))
        gguf = next(folder.glob("*.gguf"))
        score = predicted(config, folder / "additions.jsonl", [*ADDITIONS, llamacpp(gguf)],
                          base=True)["exact_match"]
        rows.append(f"| GGUF {quant} ({gguf.stat().st_size / 2**20:.0f} MiB), llamacpp "
                    f"backend | {score:.2f} | {100 * (score - reference):+.0f} points | "
                    f"{seconds:.0f} s export |")
    served = served_exact_match(gguf, work / "serve")
    rows.append(f"| GGUF {quant}, plugtune serve (llamacpp) | {served:.2f} | "
                f"{100 * (served - reference):+.0f} points | |")
    return rows


FAMILIES: dict[str, Callable[..., list[str]]] = {
    "sft": sft, "pt": pt, "grpo": grpo,
    **{name: lambda work, name=name, **options: preference(name, work, **options)
       for name in PREFERENCE},
    "deploy": deploy,
}
HEADERS = {"deploy": ["| served as | held-out additions, exact match | against transformers "
                      "| cost |", "|---|---|---|---|"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default=",".join(FAMILIES),
                        help=f"comma-separated, of {', '.join(FAMILIES)}")
    parser.add_argument("--sft-epochs", type=int, default=3,
                        help="epochs of the quickstart's recipe (the quickstart runs 1)")
    parser.add_argument("--preference-steps", type=int,
                        help="dpo, kto, orpo, simpo: training steps (default: the config's)")
    parser.add_argument("--deploy-run", type=Path,
                        help="deploy: a quickstart run to export (default: train one)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    header = ["| family | held-out measure | base model | trained | cost |",
              "|---|---|---|---|---|"]
    threads = os.environ.get("OMP_NUM_THREADS", "default")
    command = "python benchmarks/real_learning.py " + " ".join(sys.argv[1:])
    with tempfile.TemporaryDirectory(prefix="real-learning-") as work:
        for family in args.families.split(","):
            options = {"sft": {"epochs": args.sft_epochs}, "deploy": {"run": args.deploy_run},
                       **{key: {"steps": args.preference_steps} for key in PREFERENCE}
                       }.get(family, {})
            rows = FAMILIES[family](Path(work), **options)
            table = "\n".join([*HEADERS.get(family, header), *rows])
            publish(f"{table}\n\nTorch threads: {threads} (2 CPU cores)",
                    f"real_learning_{family}", f"Real learning on SmolLM2-135M-Instruct: {family}",
                    f"{command.strip()} (this family: --families {family})",
                    write=not args.no_write)


if __name__ == "__main__":
    main()
