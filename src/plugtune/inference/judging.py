"""A model that grades answers against a rubric: what the ``judge`` reward and metric
ask. Any backend answers (``transformers``, ``vllm``, ``llamacpp``, ``openai``, a
plugin's); the rubric, the question, the answer and a reference go into one prompt, and
the grade is read back by a fixed rule — the last ``Score: N`` in the reply, N from 0 to
``scale``, divided by ``scale``. A reply without one is a *failure*: no grade (None),
counted, and the first few logged with the reply, so a judge that does not follow the
format is seen at once rather than read as zeros.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from plugtune.core.config import ComponentRef, GenerationConfig, RunConfig
from plugtune.core.records import Conversation, Message

log = logging.getLogger(__name__)

SCORE = re.compile(r"score\s*[:=]\s*(-?\d+(?:\.\d+)?)", re.IGNORECASE)
LOGGED_FAILURES = 3  # replies shown per judge when it does not follow the format
DEFAULT_PROMPT = (
    "You grade an answer.\nRubric: {rubric}\nQuestion: {question}\n"
    "Reference answer: {reference}\nAnswer to grade: {answer}\n\n"
    "Reply with one line, Score: N, where N is a whole number from 0 (fails the rubric) "
    "to {scale} (meets it fully)."
)


class JudgeOptions(BaseModel):
    """Who judges and how: the judge's model and backend, the rubric, the prompt."""

    model_config = ConfigDict(extra="forbid")

    rubric: str = Field(min_length=1, description="What a good answer is.")
    model: str | None = Field(
        None, description="The judge's model (a folder, tiny://, packaged://, .gguf); "
                          "None for a backend that names its own (openai).")
    backend: ComponentRef = Field(
        default_factory=lambda: ComponentRef(name="transformers"),
        description="Any backend: a name, or {name: openai, base_url: …, model: …}.")
    template: str | None = Field(None, description="The judge's chat template; None: auto.")
    scale: int = Field(10, gt=0, description="The highest score the judge may give.")
    prompt: str = Field(DEFAULT_PROMPT, description="With {rubric} {question} {answer} "
                                                    "{reference} {scale}.")
    max_new_tokens: int = Field(32, gt=0)


@dataclass(frozen=True)
class Verdicts:
    """One grade per answer (0..1, None where the reply held none) and the replies."""

    scores: list[float | None]
    replies: list[str]

    @property
    def failures(self) -> int:
        return sum(score is None for score in self.scores)


def read_score(reply: str, scale: int) -> float | None:
    """The last ``Score: N`` of ``reply`` as N / scale, clipped to [0, 1]; None: none."""
    found = SCORE.findall(reply)
    if not found:
        return None
    return min(max(float(found[-1]) / scale, 0.0), 1.0)


class Judge:
    """Grades batches of answers; its backend loads on the first batch."""

    def __init__(self, options: JudgeOptions) -> None:
        self.options = options
        self._backend: Any = None
        self.logged = 0

    def grade(self, questions: Sequence[str], answers: Sequence[str],
              references: Sequence[Any]) -> Verdicts:
        options = self.options
        prompts = [Conversation((Message("user", options.prompt.format(
            rubric=options.rubric, question=question, answer=answer, scale=options.scale,
            reference="" if reference is None else reference)),), origin="judge")
            for question, answer, reference in zip(questions, answers, references, strict=True)]
        generation = GenerationConfig(max_new_tokens=options.max_new_tokens)
        replies = [str(reply) for reply in self.backend().generate(prompts, generation)]
        verdicts = Verdicts([read_score(reply, options.scale) for reply in replies], replies)
        self._log_failures(verdicts)
        return verdicts

    def backend(self) -> Any:
        if self._backend is None:
            from plugtune.core.session import Session

            session = Session()
            config = RunConfig.model_validate({
                "model": {"path": self.options.model or "unused"},
                "template": self.options.template, "backend": self.options.backend})
            backend = session.build("backends", self.options.backend)
            backend.load(config, session)
            self._backend = backend
        return self._backend

    def _log_failures(self, verdicts: Verdicts) -> None:
        for score, reply in zip(verdicts.scores, verdicts.replies, strict=True):
            if score is None and self.logged < LOGGED_FAILURES:
                self.logged += 1
                log.warning("judge: no 'Score: N' in the judge's reply (no grade given): %r",
                            reply[:200])
