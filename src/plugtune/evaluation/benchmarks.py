"""Multiple-choice benchmarks from local folders, in any layout a ``benchmarks`` plugin
describes (built in: C-Eval, MMLU, CMMLU; :mod:`plugtune.plugins.benchmarks`).

A layout says where each subject's file of a split is and how its rows read; the loader
plugin it names turns each row into a question. Few-shot examples are the first k
questions of the subject's dev split. The results and their files are
:mod:`~plugtune.evaluation.benchmark_results`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plugtune.core.config import BenchmarkConfig, RunConfig
from plugtune.core.errors import ConfigError
from plugtune.core.interfaces import BenchmarkLayout, Loader
from plugtune.core.session import Session
from plugtune.evaluation.benchmark_results import BenchmarkResult, SubjectResult
from plugtune.evaluation.choices import (
    ChoiceScorer,
    Progress,
    Question,
    build_prompt,
    choice_token_ids,
    render_chat,
)

log = logging.getLogger(__name__)


@dataclass
class Benchmark:
    """A layout plugin and the loader plugin its rows are read with."""

    name: str
    layout: BenchmarkLayout
    loader: Loader

    @classmethod
    def named(cls, name: str, session: Session) -> Benchmark:
        layout = session.build("benchmarks", name)
        return cls(name, layout, session.build("loaders", layout.loader))

    def files(self, path: str | Path, split: str) -> dict[str, Path]:
        """Subject -> the split's file, sorted by subject; an error naming the folder and
        the layout when there are none."""
        if split not in self.layout.splits:
            raise ConfigError(
                f"evaluation.benchmark.split: {self.name} has splits "
                f"{', '.join(self.layout.splits)}, not {split!r}"
            )
        files = self.layout.files(Path(path), split)
        if not files:
            raise self.error(Path(path), f"no {split} files")
        return files

    def questions(self, file: Path, subject: str) -> list[Question]:
        """A subject file's questions, each row converted by the loader plugin."""
        questions = []
        for index, row in enumerate(self.layout.rows(file)):
            record = self.loader.convert({**row, "subject": subject}, f"{file}:{index + 1}")
            questions.append(Question.from_record(record, subject))
        if not questions:
            raise self.error(file, "no questions")
        return questions

    def error(self, path: Path, problem: str) -> ConfigError:
        return ConfigError(f"{path}: {problem}; expected the {self.name} layout: "
                           f"{self.layout.description}")


def detect_layout(path: str | Path, session: Session) -> str:
    """The name of the one registered layout that recognises the folder."""
    layouts = {c.name: c.build() for c in session.registry("benchmarks")}
    found = [name for name, layout in layouts.items() if layout.detect(Path(path))]
    if len(found) == 1:
        return found[0]
    described = "; ".join(f"{name}: {layout.description}" for name, layout in layouts.items())
    problem = "several layouts match it: " + ", ".join(found) if found else "no layout matches"
    raise ConfigError(f"{path}: {problem}; set evaluation.benchmark.layout. Expected one of "
                      f"the layouts: {described}")


def resolve_benchmark(config: RunConfig, session: Session) -> tuple[BenchmarkConfig, Benchmark]:
    """The config's ``evaluation.benchmark`` with its layout and split filled in, and
    that layout's plugins."""
    bench = config.evaluation.benchmark
    if bench is None or not bench.path:
        raise ConfigError(
            "evaluation.benchmark.path: no benchmark folder (set it in the config or "
            "pass --benchmark DIR)"
        )
    if not Path(bench.path).is_dir():
        raise ConfigError(f"evaluation.benchmark.path: {bench.path} is not a folder")
    benchmark = Benchmark.named(bench.layout or detect_layout(bench.path, session), session)
    split = bench.split or benchmark.layout.default_split
    return bench.model_copy(update={"layout": benchmark.name, "split": split}), benchmark


@dataclass(frozen=True)
class Job:
    """One question to score, its prompt and how many solved examples precede it."""

    subject: str
    question: Question
    prompt: str
    shots: int


def run_benchmark(
    config: RunConfig,
    session: Session,
    *,
    limit: int | None = None,
    model: Any = None,
    tokenizer: Any = None,
    progress: Progress | None = None,
) -> BenchmarkResult:
    """Score ``config.model`` on ``config.evaluation.benchmark`` (``model`` and
    ``tokenizer`` may be given, already loaded)."""
    bench, benchmark = resolve_benchmark(config, session)
    started = time.perf_counter()
    if tokenizer is None:
        from plugtune.data.tokenizer import load_tokenizer

        tokenizer = load_tokenizer(config.model)
    if model is None:
        model = load_model(config)
    english = benchmark.layout.language == "en"
    choice_ids = choice_token_ids(tokenizer, prefer_space=english and not bench.chat)
    max_length = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    scorer = ChoiceScorer(model, tokenizer, choice_ids, batch_size=bench.batch_size,
                          add_special_tokens=not bench.chat, max_length=max_length)
    jobs = _jobs(bench, benchmark, scorer, tokenizer, limit)
    outputs = scorer.predict([job.prompt for job in jobs], progress)
    subjects = {subject: SubjectResult(subject, 0, 0) for subject in dict.fromkeys(
        job.subject for job in jobs)}
    predictions = []
    for job, (letter, scores) in zip(jobs, outputs, strict=True):
        result = subjects[job.subject]
        result.total += 1
        result.correct += int(letter == job.question.answer)
        predictions.append({
            "subject": job.subject, "origin": job.question.origin, "shots": job.shots,
            "prediction": letter, "answer": job.question.answer,
            "correct": letter == job.question.answer, "logits": scores,
            "prompt": job.prompt,
        })
    return BenchmarkResult(benchmark.name, str(bench.split), bench.shots, config.model.path,
                           subjects, predictions, time.perf_counter() - started)


def _subject_files(bench: BenchmarkConfig, benchmark: Benchmark) -> dict[str, Path]:
    files = benchmark.files(str(bench.path), str(bench.split))
    if bench.subjects:
        unknown = [s for s in bench.subjects if s not in files]
        if unknown:
            raise ConfigError(
                f"evaluation.benchmark.subjects: no {', '.join(unknown)} in {bench.path} "
                f"({bench.split}); known: {', '.join(files)}"
            )
        files = {s: files[s] for s in bench.subjects}
    return files


def _jobs(bench: BenchmarkConfig, benchmark: Benchmark, scorer: ChoiceScorer, tokenizer: Any,
          limit: int | None) -> list[Job]:
    """Every question of the chosen subjects with its k-shot prompt (fewer shots where
    the prompt would not fit the model)."""
    files = _subject_files(bench, benchmark)
    dev_files = benchmark.files(str(bench.path), "dev") if bench.shots else {}
    language = benchmark.layout.language
    jobs = []
    for subject, file in files.items():
        questions = benchmark.questions(file, subject)[:limit]
        shots: list[Question] = []
        if bench.shots:
            if subject not in dev_files:
                raise benchmark.error(Path(str(bench.path)),
                                      f"no dev file for {subject!r} (needed for few-shot)")
            shots = benchmark.questions(dev_files[subject], subject)[: bench.shots]
        for question in questions:
            if question.answer is None:
                raise ConfigError(
                    f"{question.origin}: no answer: the {bench.split} split of this benchmark "
                    "has no answers to score against (C-Eval's test split: use val)"
                )
            k = len(shots)
            prompt = _prompt(tokenizer, bench.chat, question, shots[:k], subject, language)
            while k and not scorer.fits(prompt):
                k -= 1
                prompt = _prompt(tokenizer, bench.chat, question, shots[:k], subject, language)
            jobs.append(Job(subject, question, prompt, k))
    return jobs


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


def _prompt(tokenizer: Any, chat: bool, question: Question, shots: Sequence[Question],
            subject: str, language: str) -> str:
    prompt = build_prompt(question, shots, subject, language)
    return render_chat(tokenizer, prompt) if chat else prompt
