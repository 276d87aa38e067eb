"""``predict``: answer every record of a split with the run's backend and score the answers.

A record's prompt is its conversation up to the last assistant answer; its reference is
that answer (``gold_answers`` when the record has several, ``answer`` for prompt/answer
records, the chosen answer of a preference pair). What ``plugtune predict`` runs and
writes: ``generated_predictions.jsonl`` (one line per record, appended batch by batch, so
that an interrupted run resumes where it stopped), ``predict_results.json`` (the corpus
scores) and ``predict_samples.jsonl`` (each record's per-sample scores).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from plugtune.agents.environments import Episodes
from plugtune.agents.playing import backend_episodes, play
from plugtune.core.config import ComponentRef, RunConfig
from plugtune.core.errors import ConfigError
from plugtune.core.interfaces import AnswerScorer, Backend, ScoringBackend
from plugtune.core.records import Conversation, Record, Reference, prompt_and_reference
from plugtune.core.session import Session
from plugtune.evaluation.metric_scores import SampleScores, build_metrics, score_metrics

log = logging.getLogger(__name__)

DEFAULT_BACKEND = "transformers"
PREDICTIONS_FILE = "generated_predictions.jsonl"
RESULTS_FILE = "predict_results.json"
SAMPLES_FILE = "predict_samples.jsonl"
SPLITS = ("train", "eval", "test")
# Records per generate call, in backend batches: the backend groups prompts of similar
# length into its batches (less padding), and the file grows a chunk at a time.
CHUNK_BATCHES = 4

# The passages a retriever added to a prompt, as JSON (None: no retriever).
Context = list[dict[str, Any]] | None
# Called after each chunk with (records answered so far, records in all).
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Prediction:
    """One record's prompt, the generated answer and the reference (None: none known)."""

    origin: str
    prompt: Conversation
    prediction: str
    reference: Reference | None
    context: Context = None
    episode: dict[str, Any] | None = None  # with tools: the episode's turns and calls

    def to_json(self) -> dict[str, Any]:
        """One line of ``generated_predictions.jsonl``: the record's own prompt, and
        with a retriever the passages the model also saw (``context``)."""
        line = {
            "origin": self.origin,
            "prompt": self.prompt.to_openai(),
            "label": self.reference,
            "predict": self.prediction,
        }
        if self.context is not None:
            line["context"] = self.context
        if self.episode is not None:
            line["episode"] = self.episode
        return line


@dataclass
class PredictionResult:
    """The answers to one split and the config's metrics over them."""

    split: str
    predictions: list[Prediction]
    metrics: dict[str, float] = field(default_factory=dict)
    runtime_s: float = 0.0
    resumed: int = 0  # answers read back from an earlier, interrupted run
    samples: list[SampleScores] = field(default_factory=list)  # per record, by metric

    def summary(self) -> dict[str, Any]:
        """What ``predict_results.json`` holds (the speed counts this run's answers)."""
        count, generated = len(self.predictions), len(self.predictions) - self.resumed
        speed = round(generated / self.runtime_s, 3) if self.runtime_s and generated else None
        return {
            "split": self.split,
            "samples": count,
            "resumed": self.resumed,
            "runtime_s": round(self.runtime_s, 3),
            "samples_per_second": speed,
            "metrics": self.metrics,
        }

    def write(self, predictions_file: Path) -> Path:
        """Write the predictions (JSON lines) and ``predict_results.json`` beside them;
        returns the results file."""
        predictions_file.parent.mkdir(parents=True, exist_ok=True)
        with predictions_file.open("w", encoding="utf-8") as out:
            for prediction in self.predictions:
                out.write(_line(prediction))
        return self.write_results(predictions_file)

    def write_results(self, predictions_file: Path) -> Path:
        """Write ``predict_results.json`` and, when there are metrics,
        ``predict_samples.jsonl`` (origin and each metric's scores, one line per record)
        beside ``predictions_file``; returns the results file."""
        results_file = predictions_file.parent / RESULTS_FILE
        results_file.write_text(json.dumps(self.summary(), indent=2) + "\n", encoding="utf-8")
        if self.samples:
            with (predictions_file.parent / SAMPLES_FILE).open("w", encoding="utf-8") as out:
                for prediction, sample in zip(self.predictions, self.samples, strict=True):
                    line = {"origin": prediction.origin, **sample}
                    out.write(json.dumps(line, ensure_ascii=False) + "\n")
        return results_file


def predict(
    config: RunConfig,
    session: Session,
    *,
    split: str = "test",
    limit: int | None = None,
    backend: Backend | None = None,
    progress: Progress | None = None,
    out: Path | None = None,
    overwrite: bool = False,
) -> PredictionResult:
    """Answer the first ``limit`` records of ``split`` and score them with
    ``config.evaluation.metrics``. ``backend``: one already loaded (else the config's).

    With ``out`` (a ``generated_predictions.jsonl``), each chunk's lines are appended and
    flushed as soon as they are generated, and a file left by an interrupted run is
    resumed: its complete lines must be the first records of the split (same origins and
    prompts), which are not answered again; anything else is an error unless
    ``overwrite``, which starts the file afresh. ``predict_results.json`` is written
    beside it at the end, over all the lines."""
    from plugtune.data.datasets import load_datasets

    if split not in SPLITS:
        raise ConfigError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    records = getattr(load_datasets(config.data, session), split)[:limit]
    if not records:
        raise ConfigError(f"data: the {split} split has no records (set data.{split})")
    asked = _Asked.of(records)
    metrics = build_metrics(config, session)
    if metrics:
        _require_references(records, asked.references, metrics)
    answers = _answered_before(out, overwrite, asked, progress)
    resumed = len(answers)
    answered = [_Answered(answer) for answer in answers]
    started = time.perf_counter()
    if resumed < len(asked.prompts):
        backend = backend or load_backend(config, session)
        answered += _answer(config, session, backend, asked, resumed, out, progress)
    answers = [a.text for a in answered]
    runtime = time.perf_counter() - started
    predictions = [
        Prediction(origin, prompt, a.text, reference, a.context, a.episode)
        for origin, prompt, a, reference in zip(
            asked.origins, asked.prompts, answered, asked.references, strict=True)
    ]
    scores = score_metrics(
        metrics, answers, asked.references, asked.prompts,
        scorer=lambda: _answer_scorer(config, session, backend),
    )
    result = PredictionResult(split, predictions, scores.corpus, runtime, resumed,
                              scores.samples if metrics else [])
    if out is not None:
        result.write_results(out)
    return result


def _answered_before(out: Path | None, overwrite: bool, asked: _Asked,
                     progress: Progress | None) -> list[str]:
    """The answers an interrupted run left in ``out`` (none with ``overwrite``), the
    file cut to them."""
    if out is None:
        return []
    answers = [] if overwrite else _resume(out, asked.origins, asked.prompts)
    out.parent.mkdir(parents=True, exist_ok=True)
    _keep_lines(out, len(answers))  # drops a half-written last line, or all (overwrite)
    if answers:
        log.info("%s: resuming after %d of %d records", out, len(answers), len(asked.prompts))
        if progress is not None:
            progress(len(answers), len(asked.prompts))
    return answers


@dataclass(frozen=True)
class _Answered:
    """One record's answer, the passages it saw and, with tools, its episode."""

    text: str
    context: Context = None
    episode: dict[str, Any] | None = None


@dataclass(frozen=True)
class _Asked:
    """A split's records as prompts, with their references and origins."""

    origins: list[str]
    prompts: list[Conversation]
    references: list[Reference | None]

    records: list[Record]

    @classmethod
    def of(cls, records: Sequence[Record]) -> _Asked:
        pairs = [prompt_and_reference(record) for record in records]
        return cls([record.origin for record in records], [prompt for prompt, _ in pairs],
                   [reference for _, reference in pairs], list(records))


def _answer(
    config: RunConfig, session: Session, backend: Backend, asked: _Asked, first: int,
    out: Path | None, progress: Progress | None,
) -> list[_Answered]:
    """Answer the prompts from ``first`` on, a chunk of batches per ``generate`` call,
    each chunk's lines appended to ``out`` as soon as it is answered."""
    injector = _context_injector(config, session)
    episodes = backend_episodes(config, session, backend)
    answered: list[_Answered] = []
    total = len(asked.prompts)
    sink = out.open("a", encoding="utf-8") if out is not None else None
    try:
        chunk = backend.batch_size * CHUNK_BATCHES
        for start in range(first, total, chunk):
            stop = min(start + chunk, total)
            prompts, context = _with_context(injector, asked.prompts[start:stop])
            if episodes is None:
                batch = [_Answered(answer, passages) for answer, passages in zip(
                    backend.generate(prompts, config.generation), context, strict=True)]
            else:
                batch = _played(episodes, backend, config, prompts,
                                asked.records[start:stop], context)
            if sink is not None:
                sink.write("".join(
                    _line(Prediction(asked.origins[i], asked.prompts[i], a.text,
                                     asked.references[i], a.context, a.episode))
                    for i, a in zip(range(start, stop), batch, strict=True)
                ))
                sink.flush()
            answered += batch
            if progress is not None:
                progress(first + len(answered), total)
    finally:
        if sink is not None:
            sink.close()
    return answered


def _played(episodes: Episodes, backend: Backend, config: RunConfig,
            prompts: Sequence[Conversation], records: Sequence[Record],
            context: Sequence[Context]) -> list[_Answered]:
    """The records answered as episodes with the run's tools; each answer is its
    episode's final one."""
    from plugtune.training.rows.prompts import reward_columns

    played = [episodes.start(prompt, reward_columns(record))
              for prompt, record in zip(prompts, records, strict=True)]
    play(played, lambda batch: backend.generate(batch, config.generation))
    return [_Answered(e.answer, passages, e.summary())
            for e, passages in zip(played, context, strict=True)]


def load_backend(config: RunConfig, session: Session) -> Backend:
    """The config's backend (``transformers`` when none is named), loaded with its model."""
    backend = session.build("backends", config.backend or DEFAULT_BACKEND)
    backend.load(config, session)
    return backend


def _context_injector(config: RunConfig, session: Session) -> Any:
    """The config's retriever, ready to add passages to prompts; None without one."""
    if config.retriever is None:
        return None
    from plugtune.rag.context import load_injector

    return load_injector(config, session)


def _with_context(injector: Any, prompts: Sequence[Conversation]
                  ) -> tuple[list[Conversation], list[Context]]:
    """The prompts as the backend gets them (with a retriever: with the passages close
    enough to each question), and those passages per prompt."""
    if injector is None:
        return list(prompts), [None] * len(prompts)
    augmented = [injector.augment(prompt) for prompt in prompts]
    return ([conversation for conversation, _ in augmented],
            [[passage.to_json() for passage in passages] for _, passages in augmented])


def _answer_scorer(config: RunConfig, session: Session, backend: Backend | None
                   ) -> AnswerScorer:
    """What model metrics (perplexity) score with: the backend's own model when it can
    score (a :class:`ScoringBackend`), else the config's model, loaded for this by the
    default backend (the answers came from a remote model, say)."""
    scorer = backend.scorer() if isinstance(backend, ScoringBackend) else None
    if scorer is None:
        local = load_backend(config.model_copy(update={"backend": None}), session)
        scorer = local.scorer() if isinstance(local, ScoringBackend) else None
    if scorer is None:
        raise ConfigError(f"evaluation.metrics: a metric scores with the model, and backend "
                          f"{DEFAULT_BACKEND!r} cannot score answers (it has no scorer())")
    return scorer


def _require_references(
    records: Sequence[Record],
    references: Sequence[Reference | None],
    metrics: Sequence[tuple[ComponentRef, Any]],
) -> None:
    missing = [r.origin for r, reference in zip(records, references, strict=True)
               if reference is None]
    if missing:
        names = ", ".join(ref.name for ref, _ in metrics)
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise ConfigError(
            f"{missing[0]}{more}: no reference answer (no final assistant turn, answer or "
            f"gold_answers), but evaluation.metrics ({names}) compare with one; "
            "predict without metrics, or use data with answers"
        )


def _line(prediction: Prediction) -> str:
    return json.dumps(prediction.to_json(), ensure_ascii=False) + "\n"


def _resume(path: Path, origins: Sequence[str], prompts: Sequence[Conversation]) -> list[str]:
    """The answers already in ``path`` (its complete lines), checked against the records
    they must answer; [] when there is no file."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").split("\n")[:-1]  # the last: "" or half-written
    hint = "; pass --overwrite (overwrite=True) to start it again, or choose another --out"
    if len(lines) > len(origins):
        raise ConfigError(f"{path}: {len(lines)} predictions, but the split has only "
                          f"{len(origins)} records (another run's file?){hint}")
    answers = []
    for index, line in enumerate(lines):
        try:
            row = json.loads(line)
            origin, prompt, answer = row["origin"], row["prompt"], row["predict"]
        except (ValueError, KeyError, TypeError):
            raise ConfigError(f"{path}:{index + 1}: not a prediction line{hint}") from None
        if origin != origins[index] or prompt != prompts[index].to_openai():
            raise ConfigError(
                f"{path}:{index + 1}: written for {origin!r}, but record {index + 1} of the "
                f"split is {origins[index]!r} (or its prompt differs): the file comes from "
                f"another config or data{hint}"
            )
        answers.append(str(answer))
    return answers


def _keep_lines(path: Path, count: int) -> None:
    """Truncate ``path`` to its first ``count`` lines (create it when missing)."""
    if not path.exists() or count == 0:
        path.write_bytes(b"")
        return
    data = path.read_bytes()
    end = -1
    for _ in range(count):
        end = data.index(b"\n", end + 1)
    if end + 1 != len(data):
        with path.open("r+b") as handle:
            handle.truncate(end + 1)
