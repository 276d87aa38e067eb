"""Multiple-choice benchmarks from local folders in the C-Eval, MMLU and CMMLU layouts.

- ``ceval``: ``{dev,val,test}/<subject>_<split>.csv``, header
  ``id,question,A,B,C,D,answer[,explanation]``;
- ``mmlu``: ``[data/]{dev,val,test}/<subject>_<split>.csv``, no header
  (question,A,B,C,D,answer);
- ``cmmlu``: ``{dev,test}/<subject>.csv``, header ``,Question,A,B,C,D,Answer``.

Few-shot examples are the first k questions of the subject's dev split. What
``plugtune eval`` writes: ``eval_results.json`` (per-subject accuracy, macro and micro
averages), ``eval_predictions.jsonl`` (one line per question) and ``eval_accuracy.png``.
"""

from __future__ import annotations

import csv
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from plugtune.core.config import BenchmarkConfig, RunConfig
from plugtune.core.errors import ConfigError
from plugtune.evaluation.choices import (
    ChoiceScorer,
    Progress,
    Question,
    build_prompt,
    choice_token_ids,
    render_chat,
)
from plugtune.plugins.loaders.multiple_choice import (
    CevalLoader,
    CmmluLoader,
    MmluLoader,
    MultipleChoiceLoader,
)

log = logging.getLogger(__name__)

RESULTS_FILE = "eval_results.json"
PREDICTIONS_FILE = "eval_predictions.jsonl"
PLOT_FILE = "eval_accuracy.png"
MMLU_COLUMNS = ("question", "A", "B", "C", "D", "answer")


@dataclass(frozen=True)
class Layout:
    name: str
    splits: tuple[str, ...]
    default_split: str
    language: str
    header: bool
    loader: type[MultipleChoiceLoader]
    description: str

    def pattern(self, split: str) -> str:
        return "*.csv" if self.name == "cmmlu" else f"*_{split}.csv"

    def subject(self, file: Path, split: str) -> str:
        suffix = "" if self.name == "cmmlu" else f"_{split}"
        return file.stem.removesuffix(suffix)


LAYOUTS = {
    "ceval": Layout("ceval", ("dev", "val", "test"), "val", "zh", True, CevalLoader,
                    "{dev,val,test}/<subject>_<split>.csv with header "
                    "id,question,A,B,C,D,answer"),
    "mmlu": Layout("mmlu", ("dev", "val", "test"), "test", "en", False, MmluLoader,
                   "[data/]{dev,val,test}/<subject>_<split>.csv without header: "
                   "question,A,B,C,D,answer"),
    "cmmlu": Layout("cmmlu", ("dev", "test"), "test", "zh", True, CmmluLoader,
                    "{dev,test}/<subject>.csv with header ,Question,A,B,C,D,Answer"),
}


def benchmark_root(path: str | Path, layout: str) -> Path:
    root = Path(path)
    if layout == "mmlu" and (root / "data").is_dir():
        return root / "data"
    return root


def detect_layout(path: str | Path) -> str:
    """Guess the layout of a folder: ``data/`` or header-less CSVs: mmlu; ``*_val.csv`` or
    ``*_dev.csv`` with an ``id`` header: ceval; ``<subject>.csv`` in dev/test: cmmlu."""
    root = Path(path)
    if (root / "data" / "dev").is_dir():
        return "mmlu"
    dev = root / "dev"
    files = sorted(dev.glob("*.csv")) if dev.is_dir() else []
    if not files:
        raise _layout_error(root, None, "no dev/*.csv files")
    if not all(file.stem.endswith("_dev") for file in files):
        return "cmmlu"
    with files[0].open(encoding="utf-8-sig", newline="") as handle:
        first = next(csv.reader(handle), [])
    return "ceval" if [cell.strip() for cell in first[:2]] == ["id", "question"] else "mmlu"


def discover(path: str | Path, layout: str, split: str) -> dict[str, Path]:
    """Subject -> the split's CSV file, sorted by subject."""
    spec = _layout(layout)
    if split not in spec.splits:
        raise ConfigError(
            f"evaluation.benchmark.split: {layout} has splits {', '.join(spec.splits)}, "
            f"not {split!r}"
        )
    root = benchmark_root(path, layout)
    folder = root / split
    if not folder.is_dir():
        raise _layout_error(Path(path), layout, f"no {split}/ folder")
    files = sorted(folder.glob(spec.pattern(split)))
    if not files:
        raise _layout_error(Path(path), layout, f"no {spec.pattern(split)} in {folder}")
    return {spec.subject(file, split): file for file in files}


def read_rows(file: Path, layout: str) -> list[dict[str, str]]:
    """The CSV's rows as dicts (MMLU's header-less columns named; blank keys dropped)."""
    spec = _layout(layout)
    with file.open(encoding="utf-8-sig", newline="") as handle:
        if spec.header:
            rows = [{key: value for key, value in row.items() if key and key.strip()}
                    for row in csv.DictReader(handle)]
        else:
            rows = []
            for number, cells in enumerate(csv.reader(handle), start=1):
                if not cells:
                    continue
                if len(cells) != len(MMLU_COLUMNS):
                    raise _layout_error(
                        file, layout, f"line {number} has {len(cells)} columns, expected 6"
                    )
                rows.append(dict(zip(MMLU_COLUMNS, cells, strict=True)))
    return rows


def load_questions(file: Path, layout: str, subject: str) -> list[Question]:
    """A subject file's questions, each row converted by the layout's loader plugin."""
    loader = _layout(layout).loader()
    questions = []
    for index, row in enumerate(read_rows(file, layout)):
        record = loader.convert({**row, "subject": subject}, f"{file}:{index + 1}")
        questions.append(Question.from_record(record, subject))
    if not questions:
        raise _layout_error(file, layout, "no questions")
    return questions


@dataclass
class SubjectResult:
    subject: str
    correct: int
    total: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0


@dataclass
class BenchmarkResult:
    layout: str
    split: str
    shots: int
    model: str
    subjects: dict[str, SubjectResult]
    predictions: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def macro_accuracy(self) -> float:
        results = list(self.subjects.values())
        return sum(r.accuracy for r in results) / len(results) if results else 0.0

    @property
    def micro_accuracy(self) -> float:
        total = sum(r.total for r in self.subjects.values())
        return sum(r.correct for r in self.subjects.values()) / total if total else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "layout": self.layout,
            "split": self.split,
            "shots": self.shots,
            "model": self.model,
            "questions": sum(r.total for r in self.subjects.values()),
            "subjects": {
                name: {"accuracy": r.accuracy, "correct": r.correct, "total": r.total}
                for name, r in self.subjects.items()
            },
            "average": self.macro_accuracy,
            "micro_average": self.micro_accuracy,
            "seconds": round(self.seconds, 3),
        }

    def write(self, out_dir: str | Path, *, plot: bool = True) -> dict[str, Path]:
        """Write the results JSON, the predictions JSONL and (``plot``) the bar chart."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        files = {"results": out / RESULTS_FILE, "predictions": out / PREDICTIONS_FILE}
        files["results"].write_text(
            json.dumps(self.summary(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
        with files["predictions"].open("w", encoding="utf-8") as handle:
            for line in self.predictions:
                handle.write(json.dumps(line, ensure_ascii=False) + "\n")
        if plot:
            files["plot"] = plot_accuracy(self, out / PLOT_FILE)
        return files


def plot_accuracy(result: BenchmarkResult, file: Path) -> Path:
    """A horizontal bar per subject plus the average, accuracy 0–1."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    names = [*result.subjects, "average"]
    values = [r.accuracy for r in result.subjects.values()] + [result.macro_accuracy]
    figure, axes = plt.subplots(figsize=(7, 1.2 + 0.35 * len(names)))
    try:
        colors = ["tab:blue"] * (len(names) - 1) + ["tab:orange"]
        axes.barh(names, values, color=colors)
        axes.invert_yaxis()
        axes.set_xlim(0, 1)
        axes.set_xlabel("accuracy")
        axes.set_title(f"{result.layout} {result.split}, {result.shots}-shot: {result.model}")
        for y, value in enumerate(values):
            axes.text(min(value + 0.01, 0.9), y, f"{value:.3f}", va="center", fontsize=8)
        figure.tight_layout()
        figure.savefig(file, dpi=100)
    finally:
        plt.close(figure)
    return file


def resolve_benchmark(config: RunConfig) -> BenchmarkConfig:
    """The config's ``evaluation.benchmark``, with the layout and split filled in."""
    bench = config.evaluation.benchmark
    if bench is None or not bench.path:
        raise ConfigError(
            "evaluation.benchmark.path: no benchmark folder (set it in the config or "
            "pass --benchmark DIR)"
        )
    if not Path(bench.path).is_dir():
        raise ConfigError(f"evaluation.benchmark.path: {bench.path} is not a folder")
    layout = bench.layout or detect_layout(bench.path)
    split = bench.split or LAYOUTS[layout].default_split
    return bench.model_copy(update={"layout": layout, "split": split})


def run_benchmark(
    config: RunConfig,
    *,
    limit: int | None = None,
    model: Any = None,
    tokenizer: Any = None,
    progress: Progress | None = None,
) -> BenchmarkResult:
    """Score ``config.model`` on ``config.evaluation.benchmark`` (``model`` and
    ``tokenizer`` may be given, already loaded)."""
    bench = resolve_benchmark(config)
    layout, split = str(bench.layout), str(bench.split)
    spec = LAYOUTS[layout]
    files = discover(bench.path, layout, split)
    if bench.subjects:
        unknown = [s for s in bench.subjects if s not in files]
        if unknown:
            raise ConfigError(
                f"evaluation.benchmark.subjects: no {', '.join(unknown)} in {bench.path} "
                f"({split}); known: {', '.join(files)}"
            )
        files = {s: files[s] for s in bench.subjects}
    dev_files = discover(bench.path, layout, "dev") if bench.shots else {}

    started = time.perf_counter()
    if tokenizer is None:
        from plugtune.data.tokenizer import load_tokenizer

        tokenizer = load_tokenizer(config.model)
    if model is None:
        model = load_model(config)
    choice_ids = choice_token_ids(tokenizer, prefer_space=spec.language == "en" and not bench.chat)
    max_length = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    scorer = ChoiceScorer(model, tokenizer, choice_ids, batch_size=bench.batch_size,
                          add_special_tokens=not bench.chat, max_length=max_length)

    jobs: list[tuple[str, Question, str, int]] = []
    for subject, file in files.items():
        questions = load_questions(file, layout, subject)[:limit]
        shots: list[Question] = []
        if bench.shots:
            if subject not in dev_files:
                raise _layout_error(Path(bench.path), layout,
                                    f"no dev file for {subject!r} (needed for few-shot)")
            shots = load_questions(dev_files[subject], layout, subject)[: bench.shots]
        for question in questions:
            if question.answer is None:
                raise ConfigError(
                    f"{question.origin}: no answer: the {split} split of this benchmark "
                    "has no answers to score against (C-Eval's test split: use val)"
                )
            k = len(shots)
            prompt = _prompt(tokenizer, bench.chat, question, shots[:k], subject, spec.language)
            while k and not scorer.fits(prompt):
                k -= 1
                prompt = _prompt(tokenizer, bench.chat, question, shots[:k], subject,
                                 spec.language)
            jobs.append((subject, question, prompt, k))

    outputs = scorer.predict([job[2] for job in jobs], progress)
    subjects = {subject: SubjectResult(subject, 0, 0) for subject in files}
    predictions = []
    for (subject, question, _prompt_text, k), (letter, scores) in zip(jobs, outputs, strict=True):
        result = subjects[subject]
        result.total += 1
        result.correct += int(letter == question.answer)
        predictions.append({
            "subject": subject, "origin": question.origin, "shots": k,
            "prediction": letter, "answer": question.answer,
            "correct": letter == question.answer, "logits": scores,
        })
    return BenchmarkResult(layout, split, bench.shots, config.model.path, subjects,
                           predictions, time.perf_counter() - started)


def load_model(config: RunConfig) -> Any:
    """The config's model (with ``model.adapter`` applied), in eval mode."""
    from plugtune.models import load_causal_lm

    model = load_causal_lm(config.model, config.quantization)
    if config.model.adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, config.model.adapter)
    if config.quantization is None:
        import torch

        if torch.cuda.is_available():
            model = model.to("cuda")
    return model.eval()


def _prompt(tokenizer: Any, chat: bool, question: Question, shots: list[Question],
            subject: str, language: str) -> str:
    prompt = build_prompt(question, shots, subject, language)
    return render_chat(tokenizer, prompt) if chat else prompt


def _layout(name: str) -> Layout:
    try:
        return LAYOUTS[name]
    except KeyError:
        raise ConfigError(
            f"evaluation.benchmark.layout: unknown layout {name!r}; known: {', '.join(LAYOUTS)}"
        ) from None


def _layout_error(path: Path, layout: str | None, problem: str) -> ConfigError:
    expected = (
        f"the {layout} layout: {LAYOUTS[layout].description}" if layout
        else "one of the layouts: " + "; ".join(
            f"{name}: {spec.description}" for name, spec in LAYOUTS.items()
        )
    )
    return ConfigError(f"{path}: {problem}; expected {expected}")
