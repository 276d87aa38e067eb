"""Teacher-forced answer likelihoods under a causal LM: what perplexity is made of.

Each (prompt, answer) becomes the conversation prompt + assistant answer, encoded by
plugtune's own encoder with the run's chat template, so the scored tokens are exactly
those training learns from for that answer (its tokens and the template's end of turn;
the prompt masked). torch is imported only when scoring.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from plugtune.core.errors import ConfigError
from plugtune.core.interfaces import AnswerLoss
from plugtune.core.records import Conversation, Message
from plugtune.data.tokenizer import unpadded_copy

# No truncation: a cut answer would silently score fewer tokens.
_NO_CUTOFF = 1 << 62


class TeacherForcingScorer:
    """Scores answers with ``model`` (with its adapter ``adapter``, None: the base
    model, as the backend generates); ``template`` renders the conversations. What a
    backend that holds a causal LM returns from ``scorer()``."""

    def __init__(self, model: Any, tokenizer: Any, template: Any, batch_size: int = 8,
                 adapter: str | None = None) -> None:
        self.model, self.template = model, template
        self.tokenizer = unpadded_copy(tokenizer)
        self.batch_size, self.adapter = batch_size, adapter

    def answer_losses(
        self, prompts: Sequence[Conversation], answers: Sequence[str]
    ) -> list[AnswerLoss]:
        from plugtune.data.encoding import EncodingOptions, encode_conversations

        conversations = [prompt.answered(Message("assistant", answer))
                         for prompt, answer in zip(prompts, answers, strict=True)]
        examples, report = encode_conversations(
            conversations, self.template, self.tokenizer,
            EncodingOptions(cutoff_len=_NO_CUTOFF, train_on="last"),
        )
        if len(examples) != len(conversations):
            raise ConfigError(f"no answer tokens to score: {'; '.join(report.dropped)}")
        losses: list[AnswerLoss] = []
        for start in range(0, len(examples), self.batch_size):
            batch = examples[start : start + self.batch_size]
            losses += self._batch_losses([e.input_ids for e in batch], [e.labels for e in batch])
        return losses

    def _batch_losses(self, ids: list[list[int]], labels: list[list[int]]) -> list[AnswerLoss]:
        """Right-padded forward pass; token losses as ``model(..., labels=…).loss`` takes
        them (logits at t predict token t + 1), summed per row."""
        import torch

        from plugtune.data.encoding import IGNORE_INDEX
        from plugtune.sdk.backends.adapters import adapter_scope

        width = max(len(row) for row in ids)
        pad = self.tokenizer.pad_token_id or 0
        device = self.model.device
        input_ids = torch.tensor([r + [pad] * (width - len(r)) for r in ids], device=device)
        mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in ids], device=device)
        target = torch.tensor(
            [r + [IGNORE_INDEX] * (width - len(r)) for r in labels], device=device
        )[:, 1:]
        with torch.inference_mode(), adapter_scope(self.model, self.adapter):
            logits = self.model(input_ids=input_ids, attention_mask=mask).logits[:, :-1].float()
            token_nll = torch.nn.functional.cross_entropy(
                logits.transpose(1, 2), target, ignore_index=IGNORE_INDEX, reduction="none"
            )
        counted = target != IGNORE_INDEX
        return [
            AnswerLoss(float(nll), int(count))
            for nll, count in zip(token_nll.double().sum(1).tolist(), counted.sum(1).tolist(),
                                  strict=True)
        ]
