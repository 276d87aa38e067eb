"""Multiple-choice parity with lm-evaluation-harness: the same questions, the same model
folder, scored by plugtune (``run_benchmark``) and by lm-eval, compared item by item.

The questions are ``examples/benchmarks/general_knowledge`` (MMLU layout, 4 subjects, 10
test and 5 dev questions each). lm-eval reads them as local JSON tasks written here from
the same CSV files, with the fields of lm-eval's own MMLU task
(``lm_eval/tasks/mmlu/default/_default_template_yaml``: ``doc_to_text``,
``doc_to_choice: [A, B, C, D]``, ``description`` per subject, ``first_n`` few-shot from
``dev``); only where the rows come from changes (``dataset_path: json``). So each tool
builds its prompt its own way, and the comparison checks the prompt texts are equal
before it compares the choices.

Scoring convention: lm-eval's ``multiple_choice`` takes, for each letter, the
log-likelihood of the continuation `` A`` … `` D`` (``target_delimiter`` + letter; in chat
mode no delimiter, ``A`` … ``D``) after the prompt, and picks the largest; plugtune picks
the largest next-token logit of the same four tokens at the prompt's last position. The
letters are one token each, so the log-likelihood is the logit minus one log-sum-exp the
four share: the choice is the same, and the differences between letters' scores are equal
up to float noise. :func:`compare` checks both.

Chat mode is 0-shot only: lm-eval puts few-shot examples in turns of their own and the
description in a system turn, where plugtune writes one user turn. Its chat task
therefore has no description and starts its ``doc_to_text`` with the same header.

Used by ``tests/test_eval_parity.py`` (a few questions) and ``benchmarks/eval_parity.py``
(all of them).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from plugtune.sdk.multiple_choice import LETTERS

REPO = Path(__file__).resolve().parents[1]
PARITY_SET = REPO / "examples" / "benchmarks" / "general_knowledge"
# lm-eval's MMLU task fields, as its _default_template_yaml writes them.
HEADER = "The following are multiple choice questions (with answers) about {subject}.\n\n"
QUESTION = ("{{question.strip()}}\nA. {{choices[0]}}\nB. {{choices[1]}}\nC. {{choices[2]}}\n"
            "D. {{choices[3]}}\nAnswer:")
TASK_PREFIX = "plugtune_parity_"
# Differences between the letters' scores may differ by float noise (the two tools pad
# batches differently); a gap above this is a scoring difference, not noise.
SCORE_TOLERANCE = 1e-3

Key = tuple[str, int]  # (subject, position in the subject's test file)


@dataclass(frozen=True)
class Setting:
    """How the questions are put to the model: ``shots`` solved dev questions first,
    ``chat``: the prompt as a user turn of the model's chat template."""

    shots: int = 0
    chat: bool = False

    def __post_init__(self) -> None:
        if self.chat and self.shots:
            raise ValueError("chat parity is 0-shot only: lm-eval writes shots as turns")

    @property
    def label(self) -> str:
        return f"{self.shots}-shot" + (" chat" if self.chat else "")


@dataclass(frozen=True)
class Item:
    """One question as a tool scored it: its prompt, each letter's score (plugtune: the
    logit; lm-eval: the log-likelihood) and the right letter."""

    prompt: str
    scores: dict[str, float]
    answer: str

    @property
    def choice(self) -> str:
        return max(self.scores, key=self.scores.__getitem__)

    @property
    def margin(self) -> float:
        """How far the choice is ahead of the runner-up."""
        first, second = sorted(self.scores.values(), reverse=True)[:2]
        return first - second


@dataclass(frozen=True)
class Run:
    """A tool's scored items."""

    items: dict[Key, Item]

    @property
    def accuracy(self) -> float:
        return sum(item.choice == item.answer for item in self.items.values()) / len(self.items)


@dataclass(frozen=True)
class Agreement:
    """How two runs compare: items, how many have the same choice and the same prompt,
    and the largest gap between the tools' letter-score differences."""

    items: int
    same_choice: int
    same_prompt: int
    score_gap: float
    differing: list[str]


def model_folder(model: str) -> str:
    """The folder plugtune loads for ``model`` (a ``packaged://`` name is converted once)."""
    from plugtune.models import resolve_model_path

    return resolve_model_path(model)


def run_plugtune(model: str, setting: Setting, limit: int | None = None,
                 batch_size: int = 8) -> Run:
    """``plugtune eval`` on the parity set: float32, the MMLU layout."""
    from plugtune import Session
    from plugtune.core.config import RunConfig
    from plugtune.evaluation.benchmarks import run_benchmark

    config = RunConfig.model_validate({
        "model": {"path": model, "dtype": "float32"},
        "evaluation": {"benchmark": {"path": str(PARITY_SET), "layout": "mmlu",
                                     "shots": setting.shots, "chat": setting.chat,
                                     "batch_size": batch_size}},
    })
    result = run_benchmark(config, Session(), limit=limit)
    items: dict[Key, Item] = {}
    for prediction in result.predictions:
        subject = prediction["subject"]
        position = sum(key[0] == subject for key in items)
        items[subject, position] = Item(prediction["prompt"], prediction["logits"],
                                         prediction["answer"])
    return Run(items)


def write_lm_eval_tasks(setting: Setting, out: Path) -> list[str]:
    """One lm-eval task per subject of the parity set, its rows as JSON lines beside it."""
    tasks = []
    for test_file in sorted((PARITY_SET / "data" / "test").glob("*_test.csv")):
        subject = test_file.stem.removesuffix("_test")
        title = subject.replace("_", " ")
        files = {split: str(_json_rows(PARITY_SET / "data" / split / f"{subject}_{split}.csv",
                                       title, out / f"{subject}_{split}.jsonl"))
                 for split in ("test", "dev")}
        task = {
            "task": TASK_PREFIX + subject,
            "dataset_path": "json",
            "dataset_kwargs": {"data_files": files, "cache_dir": str(out / "datasets")},
            "test_split": "test",
            "fewshot_split": "dev",
            "fewshot_config": {"sampler": "first_n"},
            "output_type": "multiple_choice",
            "doc_to_text": (HEADER.replace("{subject}", "{{subject}}") + QUESTION
                            if setting.chat else QUESTION),
            "doc_to_choice": list(LETTERS),
            "doc_to_target": "answer",
            "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
            "metadata": {"version": 1.0},
        }
        if not setting.chat:
            task["description"] = HEADER.format(subject=title)
        (out / f"{TASK_PREFIX}{subject}.yaml").write_text(
            yaml.safe_dump(task, allow_unicode=True, sort_keys=False), encoding="utf-8")
        tasks.append(TASK_PREFIX + subject)
    return tasks


def _json_rows(csv_file: Path, title: str, out: Path) -> Path:
    """An MMLU CSV (question, A–D, answer letter) as lm-eval's MMLU rows."""
    with csv_file.open(encoding="utf-8", newline="") as handle:
        rows = [{"question": cells[0], "choices": cells[1:5], "answer": LETTERS.index(cells[5]),
                 "subject": title} for cells in csv.reader(handle) if cells]
    out.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return out


def run_lm_eval(model: str, setting: Setting, work: Path, limit: int | None = None,
                batch_size: int = 8) -> Run:
    """lm-eval's ``simple_evaluate`` with its ``hf`` model on the folder plugtune loads
    (float32, the device plugtune would use), on tasks written into ``work``."""
    import torch
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    work.mkdir(parents=True, exist_ok=True)
    tasks = write_lm_eval_tasks(setting, work)
    results = simple_evaluate(
        model="hf",
        model_args={"pretrained": model_folder(model), "dtype": "float32",
                    "device": "cuda" if torch.cuda.is_available() else "cpu"},
        tasks=tasks, num_fewshot=setting.shots, batch_size=batch_size, limit=limit,
        apply_chat_template=setting.chat,
        task_manager=TaskManager(include_path=str(work), include_defaults=False),
        log_samples=True, bootstrap_iters=0,
    )
    items: dict[Key, Item] = {}
    for task in tasks:
        for sample in sorted(results["samples"][task], key=lambda s: s["doc_id"]):
            items[task.removeprefix(TASK_PREFIX), sample["doc_id"]] = _lm_eval_item(sample)
    return Run(items)


def _lm_eval_item(sample: dict[str, Any]) -> Item:
    """A logged lm-eval sample: one (context, continuation) request per letter, each
    request's (log-likelihood, is-greedy), and lm-eval's own verdict ``acc``, which the
    choice read here must match."""
    contexts = {request[0] for request in sample["arguments"]}
    if len(contexts) != 1:
        raise AssertionError(f"lm-eval scored the letters after different prompts: {contexts}")
    scores = {letter: float(loglikelihood) for letter, (loglikelihood, _) in
              zip(LETTERS, sample["filtered_resps"], strict=True)}
    item = Item(contexts.pop(), scores, LETTERS[sample["target"]])
    if (item.choice == item.answer) != bool(sample["acc"]):
        raise AssertionError(f"lm-eval's acc {sample['acc']} disagrees with its scores {scores}")
    return item


def compare(ours: Run, theirs: Run) -> Agreement:
    """Per item: the same prompt, the same choice, and the letters' scores apart by the
    same amounts (each tool's scores centred on their mean, then the largest gap)."""
    if ours.items.keys() != theirs.items.keys():
        raise AssertionError(f"different items: {sorted(ours.items)} vs {sorted(theirs.items)}")
    same_choice = same_prompt = 0
    gap = 0.0
    differing = []
    for key, mine in ours.items.items():
        other = theirs.items[key]
        same_prompt += mine.prompt == other.prompt
        same_choice += mine.choice == other.choice
        gap = max(gap, max(abs(a - b) for a, b in zip(
            _centred(mine.scores), _centred(other.scores), strict=True)))
        if mine.choice != other.choice or mine.prompt != other.prompt:
            differing.append(
                f"{key[0]}#{key[1]}: plugtune {mine.choice} (margin {mine.margin:.2e}), "
                f"lm-eval {other.choice} (margin {other.margin:.2e})"
                + ("" if mine.prompt == other.prompt else
                   f"; prompts differ: {mine.prompt!r} vs {other.prompt!r}"))
    return Agreement(len(ours.items), same_choice, same_prompt, gap, differing)


def _centred(scores: dict[str, float]) -> list[float]:
    mean = sum(scores.values()) / len(scores)
    return [scores[letter] - mean for letter in LETTERS]
