"""The reaches into TRL's internals (checked against TRL 1.16.0).

Each entry names what it relies on; tests/test_compat_contracts.py pins each one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

#: The name TRL's ``DPOTrainer`` and ``KTOTrainer`` give the frozen copy of a
#: continued adapter they keep as the reference (``model.add_adapter("ref", …)``).
REFERENCE_ADAPTER = "ref"

#: The keywords of the call TRL's ``DPOTrainer`` and ``KTOTrainer`` make to score
#: sequences through their fused LM head (``model(**model_kwargs, labels=…,
#: fused_lm_head=True)``, ``model_kwargs`` being ``input_ids``, ``attention_mask`` and
#: ``use_cache``), the call plugtune's padding-free hooks flatten and nothing else.
FUSED_CALL = frozenset({"input_ids", "attention_mask", "labels", "fused_lm_head", "use_cache"})
FUSED_CALL_SWITCH = "fused_lm_head"

#: What the ``concatenated_forward`` of TRL's experimental ``ORPOTrainer`` returns, by
#: position (a sixth item, the router's auxiliary loss, follows for mixture-of-experts).
CONCATENATED_FORWARD = ("chosen_logps", "rejected_logps", "chosen_logits", "rejected_logits",
                        "chosen_nll_loss")


class Pretokenized:
    """A mixin for TRL's ``DPOTrainer``/``KTOTrainer`` (listed before it): their
    private ``_prepare_dataset(self, dataset, processing_class, args, dataset_name)``,
    which renders and tokenizes text, replaced by :meth:`prepared_rows` — plugtune's
    rows are tokenized already, and are taken as they are unless a subclass adds to
    them."""

    def prepared_rows(self, dataset: Any, args: Any) -> Any:
        """The rows the trainer trains on, from plugtune's tokenized ``dataset``."""
        return dataset

    def _prepare_dataset(self, dataset: Any, processing_class: Any, args: Any,
                         dataset_name: str) -> Any:
        return self.prepared_rows(dataset, args)


class RowsAsGiven:
    """A mixin for TRL's experimental ``ORPOTrainer``/``CPOTrainer`` (listed before
    it): their ``tokenize_row(self, feature, model=None)``, mapped over the dataset to
    tokenize its text, keeps each row's own (already tokenized) columns instead."""

    def tokenize_row(self, feature: Any, model: Any = None) -> dict[str, Any]:
        return {}


def computes_kl(trainer: Any) -> bool:
    """Whether TRL's ``KTOTrainer`` estimates its KL term (its ``calculate_KL``, set in
    ``__init__`` from the loss type), so its rows need ``KL_completion_ids``."""
    return bool(trainer.calculate_KL)


def with_chosen_nll(trainer_class: type, nll: Callable[[Any, Any], Any]) -> type:
    """``trainer_class`` (TRL's experimental ``ORPOTrainer``) with the chosen answers'
    NLL term of :data:`CONCATENATED_FORWARD` replaced by ``nll(chosen_logits, batch)``,
    where ``chosen_logits`` are the logits before each next token of the chosen
    sequences."""
    logits_at = CONCATENATED_FORWARD.index("chosen_logits")
    nll_at = CONCATENATED_FORWARD.index("chosen_nll_loss")

    class ChosenNLL(trainer_class):  # type: ignore[misc, valid-type]
        def concatenated_forward(self, model: Any, batch: dict[str, Any]) -> tuple[Any, ...]:
            outputs = super().concatenated_forward(model, batch)
            return (*outputs[:nll_at], nll(outputs[logits_at], batch), *outputs[nll_at + 1:])

    ChosenNLL.__name__ = ChosenNLL.__qualname__ = trainer_class.__name__
    return ChosenNLL


#: What plugtune's agentic rollouts (GRPOTrainer's ``rollout_func``) read from TRL's
#: ``GRPOTrainer``, none of it documented: ``environments``, the instances its
#: ``environment_factory`` made, one per rollout in the order of the prompts, each reset
#: with its dataset row before ``rollout_func`` runs (and handed to every reward as the
#: ``environments`` keyword); ``eos_token_ids``, the ids that end a completion; and
#: ``generation_config`` / ``generation_kwargs``, the sampling settings of its own
#: transformers generation. The returned ``env_mask`` is TRL's tool mask (0: not trained).
ROLLOUT_ATTRIBUTES = ("environments", "eos_token_ids", "generation_config", "generation_kwargs")
ROLLOUT_MASK = "env_mask"


@dataclass(frozen=True)
class RolloutState:
    """The :data:`ROLLOUT_ATTRIBUTES` of a ``GRPOTrainer`` during its ``rollout_func``."""

    environments: list[Any]
    stop_ids: list[int]
    generation_config: Any
    generation_kwargs: dict[str, Any]


def rollout_state(trainer: Any) -> RolloutState:
    return RolloutState(trainer.environments, list(trainer.eos_token_ids),
                        trainer.generation_config, trainer.generation_kwargs)


#: A chat template that renders a tool exchange (calls and results), and nothing else of
#: use: what a tokenizer carries while TRL's ``GRPOTrainer.__init__`` runs its
#: ``supports_tool_calling`` check (done there only, and only with an
#: ``environment_factory``).
TOOL_EXCHANGE_JINJA = (
    "{% for m in messages %}{{ m.role }}: {{ m.content }}"
    "{% for c in m.tool_calls or [] %} {{ c.function.name }} "
    "{{ c.function.arguments | tojson }}{% endfor %}\n{% endfor %}"
)


@contextmanager
def tool_check_passed(tokenizer: Any) -> Iterator[None]:
    """While GRPOTrainer is built for agentic episodes: TRL refuses an
    ``environment_factory`` unless the tokenizer's own chat template renders tool calls,
    but plugtune's episodes are rendered by the run's template, never the tokenizer's
    (SmolLM2's renders no tools; a run's template may write no Jinja). The tokenizer
    carries :data:`TOOL_EXCHANGE_JINJA` for the constructor, and its own template after."""
    own = tokenizer.chat_template
    tokenizer.chat_template = TOOL_EXCHANGE_JINJA
    try:
        yield
    finally:
        tokenizer.chat_template = own
