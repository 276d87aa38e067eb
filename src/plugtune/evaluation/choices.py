"""Multiple-choice scoring: the k-shot prompt, and the answer read from the next-token
logits over the choice letters (the MMLU / C-Eval / LLaMA-Factory method).

The prompt is plain text (a subject header, k solved dev questions, then the question
and ``Answer:``), or with ``chat`` that text as one user turn rendered by the
tokenizer's chat template with the assistant's generation prompt. The prediction is the
letter whose token has the highest logit at the last position; no text is generated.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from plugtune.core.errors import ConfigError
from plugtune.sdk.multiple_choice import LETTERS, format_question

HEADERS = {
    "en": "The following are multiple choice questions (with answers) about {subject}.\n\n",
    "zh": "以下是中国关于{subject}考试的单项选择题，请选出其中的正确答案。\n\n",
}
ANSWER_MARKS = {"en": "Answer:", "zh": "答案："}
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Question:
    """One multiple-choice question; ``answer`` is None where the split has none."""

    question: str
    choices: Mapping[str, str]
    answer: str | None = None
    subject: str = ""
    origin: str = ""

    @classmethod
    def from_record(cls, record: Any, subject: str = "") -> Question:
        meta = record.meta
        return cls(meta["question"], dict(meta["choices"]), meta.get("answer"),
                   subject, record.origin)


def subject_title(subject: str) -> str:
    """``high_school_physics`` -> ``high school physics``."""
    return subject.replace("_", " ").strip()


def format_example(question: Question, language: str = "en", *, solved: bool) -> str:
    """The question, its choices and ``Answer:`` (followed by `` X`` when solved)."""
    mark = ANSWER_MARKS[language]
    text = f"{format_question(question.question, question.choices)}\n{mark}"
    if solved:
        text += (" " if language == "en" else "") + str(question.answer)
    return text


def build_prompt(question: Question, shots: Sequence[Question], subject: str,
                 language: str = "en") -> str:
    """The plain k-shot prompt: header, each solved example then a blank line, the question.

    >>> q = Question("1+1=?", {"A": "1", "B": "2", "C": "3", "D": "4"}, "B")
    >>> build_prompt(q, [], "math")[-8:]
    '\\nAnswer:'
    """
    parts = [HEADERS[language].format(subject=subject_title(subject))]
    parts += [format_example(shot, language, solved=True) + "\n\n" for shot in shots]
    parts.append(format_example(question, language, solved=False))
    return "".join(parts)


def render_chat(tokenizer: Any, prompt: str) -> str:
    """The prompt as a user turn with the assistant's generation prompt after it."""
    if not getattr(tokenizer, "chat_template", None):
        raise ConfigError("evaluation.benchmark.chat: the tokenizer has no chat template")
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
    )


def choice_token_ids(tokenizer: Any, letters: Sequence[str] = LETTERS,
                     prefer_space: bool = True) -> dict[str, int]:
    """Each letter's token id: `` A`` … (``prefer_space``) or ``A`` …, whichever gives one
    distinct token per letter (the other variant is tried second)."""
    variants = (" {}", "{}") if prefer_space else ("{}", " {}")
    tried = []
    for variant in variants:
        ids = {letter: tokenizer.encode(variant.format(letter), add_special_tokens=False)
               for letter in letters}
        if all(len(tokens) == 1 for tokens in ids.values()):
            mapping = {letter: tokens[0] for letter, tokens in ids.items()}
            if len(set(mapping.values())) == len(mapping):
                return mapping
        tried.append(", ".join(f"{variant.format(k)!r}->{v}" for k, v in ids.items()))
    raise ConfigError(
        "the tokenizer does not encode each choice letter as one token, so the answer "
        "cannot be read from next-token logits: " + "; ".join(tried)
    )


class ChoiceScorer:
    """Predicts letters from a causal LM's next-token logits, in left-padded batches.

    ``model`` is called as ``model(input_ids=…, attention_mask=…, position_ids=…)`` and
    must return an object with ``.logits`` (batch, length, vocab), as transformers do.
    """

    def __init__(self, model: Any, tokenizer: Any, choice_ids: Mapping[str, int], *,
                 batch_size: int = 8, add_special_tokens: bool = True,
                 max_length: int | None = None) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.choice_ids = dict(choice_ids)
        self.batch_size = max(1, batch_size)
        self.add_special_tokens = add_special_tokens
        self.max_length = max_length

    def token_count(self, prompt: str) -> int:
        return len(self.tokenizer(prompt, add_special_tokens=self.add_special_tokens)["input_ids"])

    def fits(self, prompt: str) -> bool:
        return self.max_length is None or self.token_count(prompt) <= self.max_length

    def predict(self, prompts: Sequence[str],
                progress: Progress | None = None) -> list[tuple[str, dict[str, float]]]:
        """For each prompt the predicted letter and every letter's logit."""
        import torch

        results: list[tuple[str, dict[str, float]]] = []
        letters = list(self.choice_ids)
        ids = torch.tensor([self.choice_ids[letter] for letter in letters])
        for start in range(0, len(prompts), self.batch_size):
            batch = list(prompts[start:start + self.batch_size])
            inputs = self._encode(batch)
            device = _device(self.model)
            inputs = {key: value.to(device) for key, value in inputs.items()}
            with torch.no_grad():
                logits = self.model(**inputs).logits[:, -1, :]
            chosen = logits.float().index_select(-1, ids.to(logits.device)).cpu()
            for row in chosen:
                scores = {letter: float(value) for letter, value in zip(letters, row, strict=True)}
                results.append((letters[int(row.argmax())], scores))
            if progress is not None:
                progress(len(results), len(prompts))
        return results

    def _encode(self, prompts: list[str]) -> dict[str, Any]:
        tokenizer = self.tokenizer
        side, pad = tokenizer.padding_side, tokenizer.pad_token
        tokenizer.padding_side = "left"
        if pad is None:
            tokenizer.pad_token = tokenizer.eos_token
        try:
            inputs = tokenizer(prompts, return_tensors="pt", padding=True,
                               add_special_tokens=self.add_special_tokens)
        finally:
            tokenizer.padding_side = side
            if pad is None:
                tokenizer.pad_token = pad
        mask = inputs["attention_mask"]
        # Left padding: count positions from each sequence's first real token.
        position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
        return {"input_ids": inputs["input_ids"], "attention_mask": mask,
                "position_ids": position_ids}


def _device(model: Any) -> Any:
    device = getattr(model, "device", None)
    if device is not None:
        return device
    parameters = getattr(model, "parameters", None)
    if parameters is not None:
        first = next(iter(parameters()), None)
        if first is not None:
            return first.device
    return "cpu"
