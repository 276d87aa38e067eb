"""The typed interfaces between plugin kinds: a Protocol per kind, and what they exchange.
Plugins implement these and never import each other; the library never asks which class
it holds. An optional capability (a template writing its own Jinja, a backend scoring
answers) is a Protocol of its own, checked with ``isinstance`` against it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from plugtune.core.moved import forward
from plugtune.core.records import Conversation, Passage, Record

if TYPE_CHECKING:
    from plugtune.core.config import GenerationConfig, QuantizationConfig, RunConfig
    from plugtune.core.session import Session


class Register(Protocol):
    """What every ``register_<kind>`` hook receives (see :mod:`plugtune.core.hookspecs`);
    a command is registered bare: ``register(click_command)``."""

    def __call__(self, name: Any, component: object = None, *, options: Any = None,
                 doc: str | None = None) -> None: ...


@runtime_checkable
class Loader(Protocol):
    """A data format: one row of a source file as a canonical record. Reading files,
    registries, mixing, splitting and the bad-record policy are shared (``plugtune.data``);
    ``origin`` (``data.jsonl:12``) prefixes every :class:`~plugtune.core.records.RecordError`."""

    def convert(self, row: Mapping[str, Any], origin: str) -> Record: ...


@dataclass(frozen=True, slots=True)
class Segment:
    """A piece of a rendered conversation. ``trainable`` pieces are in the loss: an answer
    and the end-of-turn token that makes generation stop. ``message``: the index of the
    message it renders (-1: a prefix or the generation prompt)."""

    text: str
    trainable: bool = False
    message: int = -1


@runtime_checkable
class ChatTemplate(Protocol):
    """A model family's chat format: ``segments`` join to exactly what the model's own
    Jinja template renders; ``stop_strings`` end an assistant turn (the end-of-turn token
    first), backends stop on them and every trainable answer ends with one."""

    name: str
    stop_strings: tuple[str, ...]

    def segments(self, conversation: Conversation, *,
                 add_generation_prompt: bool = False) -> list[Segment]: ...

    def render(self, conversation: Conversation, *, add_generation_prompt: bool = False) -> str: ...


@runtime_checkable
class WritesJinja(Protocol):
    """A template that writes itself as the Jinja chat template a trained run ships with
    (its tokenizer, GGUF or Ollama model); None: it cannot."""

    def jinja(self) -> str | None: ...


@dataclass
class TrainingRun:
    """What a trainer is handed: the validated config, the session that builds components,
    where to write, ``resume`` (None, ``"auto"``: the newest complete checkpoint, or a
    folder) and callbacks added to the config's own (``plugtune train --callback``)."""

    config: RunConfig
    session: Session
    output_dir: Path
    resume: str | None = None
    callbacks: list[Any] = field(default_factory=list)


@runtime_checkable
class Trainer(Protocol):
    """A training algorithm: trains, writes to the run's output dir, and returns the final
    metrics (what ``all_results.json`` holds)."""

    def train(self, run: TrainingRun) -> dict[str, float]: ...


@runtime_checkable
class PreparesRows(Protocol):
    """A trainer whose rows can be prepared once on disk (``data.prepared``, ``plugtune
    data prepare``), streamed (``data.streaming``) and batched flat
    (``data.padding_free``): ``rows`` returns them batched, and the tokenizer, the way
    ``train`` uses them (:func:`plugtune.training.encoded_rows`). sft and pt are such
    trainers."""

    def rows(self, run: TrainingRun) -> tuple[Any, Any]: ...


@runtime_checkable
class TakesFlatBatches(Protocol):
    """A trainer of its own rows whose batches may still be flat (``data.padding_free``:
    dpo and kto, whose TRL calls the library flattens): ``takes_flat_batches`` is True."""

    takes_flat_batches: bool


@runtime_checkable
class PeftMethod(Protocol):
    """What trains (``peft.type``). ``adapter``: a PEFT adapter trains (an alignment run's
    reference is the model with it disabled; a quantized base is allowed). ``quantization``:
    the base's, given the config's (qlora: 4-bit regardless). ``prepare``: the model made
    trainable (``task``: ``causal_lm``, or ``reward``: its new score head trains too)."""

    adapter: bool

    def quantization(self, configured: QuantizationConfig | None) -> QuantizationConfig | None:
        ...

    def prepare(self, model: Any, config: RunConfig, task: str) -> Any: ...


class Reward(Protocol):
    """TRL's shape: one number per completion, or None where it does not apply; ``columns``
    are the records' other fields (``answer``, ``gold_answers``, …), one value each."""

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any],
                 **columns: Any) -> Sequence[float | None]: ...


@runtime_checkable
class Environment(Protocol):
    """A world an agent acts in for one episode (agentic GRPO, ``predict --tools``).

    A new instance (or a reused one, reset) per episode. ``reset`` receives the record's
    columns (``answer``, the record's own fields, …) and may return text appended to the
    last user message. Every other public method is a tool: its name, type hints and
    Google-style docstring become the JSON schema the template renders, and its return
    value (text, or anything JSON can write) is the tool's message. An environment may
    also own a reward: ``get_reward() -> float``, called once when its episode ends.
    The same shape as TRL's ``environment_factory`` classes, so one class serves both.
    """

    def reset(self, **columns: Any) -> str | None: ...


@runtime_checkable
class OwnsReward(Protocol):
    """An :class:`Environment` that scores its own episode from its state."""

    def get_reward(self) -> float: ...


class Metric(Protocol):
    """Corpus scores of predictions against references (a string, or a list of
    acceptable strings, each)."""

    def __call__(self, predictions: Sequence[str],
                 references: Sequence[Any]) -> Mapping[str, float]: ...


@runtime_checkable
class SampleMetric(Protocol):
    """A metric that also scores each prediction (``predict_samples.jsonl``)."""

    def score_samples(self, predictions: Sequence[str],
                      references: Sequence[Any]) -> list[dict[str, float]]: ...


@dataclass(frozen=True)
class AnswerLoss:
    """An answer's summed negative log-likelihood (nats) over its ``tokens`` tokens."""

    nll: float
    tokens: int


class AnswerScorer(Protocol):
    """Teacher-forced likelihoods of answers given their prompts, under the run's model and
    chat template (the answer tokens and end of turn, as training masks them)."""

    def answer_losses(self, prompts: Sequence[Conversation],
                      answers: Sequence[str]) -> list[AnswerLoss]: ...


@dataclass
class MetricScores:
    """A metric's corpus scores and, when it has them, one score dict per sample."""

    corpus: dict[str, float]
    samples: list[dict[str, float]] | None = None


@runtime_checkable
class ModelMetric(Protocol):
    """A metric that scores with the model (perplexity): ``needs_model = True``; it is
    handed an :class:`AnswerScorer`, never the model."""

    needs_model: bool

    def score_with_model(self, scorer: AnswerScorer, prompts: Sequence[Conversation],
                         references: Sequence[Any]) -> MetricScores: ...


@runtime_checkable
class Backend(Protocol):
    """An inference engine, built unloaded from the ``backend:`` options; ``load`` binds it
    to the config's model, adapter, quantization, template and ``generation`` defaults.
    ``generate`` answers a batch in order, each cut at its first stop (eos, the template's
    stops, ``params.stop``); ``stream``'s pieces join to the same answer. Answers may be
    strings with a ``tokens`` count. ``use_adapter(None)``: the base model."""

    batch_size: int

    def load(self, config: RunConfig, session: Session) -> None: ...

    def generate(self, conversations: Sequence[Conversation],
                 params: GenerationConfig | None = None) -> list[str]: ...

    def stream(self, conversation: Conversation,
               params: GenerationConfig | None = None) -> Iterator[str]: ...

    def use_adapter(self, name: str | None) -> None: ...


@runtime_checkable
class ScoringBackend(Protocol):
    """A backend that also scores answers with its loaded model (what model metrics
    need); None when it cannot (a remote model, say)."""

    def scorer(self) -> AnswerScorer | None: ...


@runtime_checkable
class Retriever(Protocol):
    """RAG: the passages most related to ``question``, closest first (plain strings are
    passages too). Optional: ``k``, ``max_distance``, ``prompt_template`` (how plugtune
    uses the passages) and ``open()`` (load now, not on the first question)."""

    def retrieve(self, question: str, k: int) -> Sequence[Passage | str]: ...


@runtime_checkable
class BenchmarkLayout(Protocol):
    """A multiple-choice benchmark's folder layout. ``files``: each subject's file of a
    split; ``rows``: one file's rows, which the loader plugin named ``loader`` converts;
    ``detect``: whether a folder is in this layout; ``language`` picks the prompt's
    wording; ``description`` tells users what the layout looks like."""

    splits: tuple[str, ...]
    default_split: str
    language: str
    loader: str
    description: str

    def detect(self, root: Path) -> bool: ...

    def files(self, root: Path, split: str) -> dict[str, Path]: ...

    def rows(self, file: Path) -> list[dict[str, str]]: ...


@runtime_checkable
class Exporter(Protocol):
    """A deployable form of a trained run (``plugtune export --format NAME``): written
    into ``to`` (absent or empty; None: the format's folder under ``output.dir``) from the
    run's model and ``adapter`` (None: the run's own); returns the folder written."""

    def export(self, config: RunConfig, session: Session, *, adapter: str | None,
               to: Path | None) -> Path: ...


@dataclass
class ReadConfig:
    """A foreign config read as plugtune's sections, and notes on keys whose meaning
    changes or that have no effect (logged, and shown by ``config convert``)."""

    config: dict[str, Any]
    notes: list[str] = field(default_factory=list)


@runtime_checkable
class ConfigReader(Protocol):
    """Another tool's config format: ``claims`` a file's top-level mapping, ``read``s it."""

    def claims(self, data: Mapping[str, Any]) -> bool: ...

    def read(self, data: Mapping[str, Any], source: str) -> ReadConfig: ...


# Answer moved to plugtune.sdk.backends.decoding (0.2.0): the old path warns until 0.3.0.
__getattr__ = forward(__name__)
