"""The reaches into transformers' internals (checked against transformers 5.23.0).

Each entry names what it relies on; tests/test_compat_contracts.py pins each one.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any


class TrainerHooks:
    """A mixin for a ``transformers.Trainer`` subclass (listed before it): the Trainer's
    private ``_get_train_sampler(self, train_dataset=None)``,
    ``_get_eval_sampler(self, eval_dataset)`` and ``_track_num_input_tokens(self,
    inputs)`` overridden once, each handing over to a public-named hook a subclass
    overrides: :meth:`sampler_rows` (what the length-aware samplers read) and
    :meth:`count_batch_tokens` (the batch's share of ``num_input_tokens_seen``)."""

    train_dataset: Any

    def sampler_rows(self, dataset: Any) -> Any:
        """The rows the sampler of ``dataset`` reads (the dataset itself by default)."""
        return dataset

    def count_batch_tokens(self, inputs: Any) -> None:
        """Count the batch into ``state.num_input_tokens_seen`` (transformers' own count
        by default)."""
        super()._track_num_input_tokens(inputs)  # type: ignore[misc]

    def _get_train_sampler(self, train_dataset: Any = None) -> Any:
        dataset = self.train_dataset if train_dataset is None else train_dataset
        return super()._get_train_sampler(self.sampler_rows(dataset))  # type: ignore[misc]

    def _get_eval_sampler(self, eval_dataset: Any) -> Any:
        return super()._get_eval_sampler(self.sampler_rows(eval_dataset))  # type: ignore[misc]

    def _track_num_input_tokens(self, inputs: Any) -> None:
        self.count_batch_tokens(inputs)


def loss_takes_item_count(trainer: Any) -> bool:
    """Whether the Trainer passes ``num_items_in_batch`` to the model's loss: its
    undocumented ``model_accepts_loss_kwargs``, set in ``Trainer.__init__``."""
    return bool(trainer.model_accepts_loss_kwargs)


def plain_causal_lm_loss(trainer: Any) -> bool:
    """Whether the Trainer computes the model's own causal-LM loss: no label smoothing
    (its ``label_smoother``) and no custom loss (its ``compute_loss_func``), both set in
    ``Trainer.__init__``."""
    return trainer.label_smoother is None and trainer.compute_loss_func is None


def attention_implementation(config: Any) -> Any:
    """The attention implementation a model config runs (``"sdpa"``, ``"eager"``,
    ``"flash_attention_2"``, a registered name): the config's ``_attn_implementation``
    property (``set_attn_implementation`` sets it publicly; nothing public reads it)."""
    return config._attn_implementation


def sdpa_attention(module: Any, query: Any, key: Any, value: Any, attention_mask: Any, *,
                   dropout: float, scaling: float | None, **kwargs: Any) -> Any:
    """transformers' own SDPA attention,
    ``transformers.integrations.sdpa_attention.sdpa_attention_forward``, called with its
    ``dropout`` and ``scaling`` keywords and the rest as the model passed them."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    return sdpa_attention_forward(module, query, key, value, attention_mask,
                                  dropout=dropout, scaling=scaling, **kwargs)


def sdpa_mask(*, batch_size: int, q_length: int, kv_length: int, q_offset: Any,
              kv_offset: Any, attention_mask: Any, **kwargs: Any) -> Any:
    """transformers' SDPA mask, ``transformers.masking_utils.sdpa_mask``, called with
    these keywords (and the rest as transformers passed them)."""
    from transformers.masking_utils import sdpa_mask as build

    return build(batch_size=batch_size, q_length=q_length, kv_length=kv_length,
                 q_offset=q_offset, kv_offset=kv_offset, attention_mask=attention_mask,
                 **kwargs)


def plain_causal_attention(module: Any, call_kwargs: dict[str, Any]) -> bool:
    """Whether an attention-interface call is plain causal attention: the attention
    module says it is causal (its ``is_causal``, True when absent) and the model passed
    no soft-capped scores (``softcap=``, as Gemma 2 does) and no attention sinks
    (``s_aux=``, as gpt-oss does) among the call's keyword arguments."""
    return (call_kwargs.get("softcap") is None and call_kwargs.get("s_aux") is None
            and bool(getattr(module, "is_causal", True)))


def register_attention(name: str, attention: Any, mask: Any) -> None:
    """Register an attention function and the mask builder that goes with it under
    ``name`` (what ``set_attn_implementation(name)`` then selects): the public
    ``transformers.AttentionInterface`` and ``AttentionMaskInterface``, which transformers
    exports only from ``transformers.masking_utils``."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(name, attention)
    AttentionMaskInterface.register(name, mask)


def cached_model_file(path: str, name: str) -> Path | None:
    """The file ``name`` of the model ``path`` (a folder, or a hub id in the local cache,
    fetched as transformers fetches), None when the model has no such file:
    ``transformers.utils.cached_file`` with its documented but private
    ``_raise_exceptions_for_missing_entries=False``."""
    from transformers.utils import cached_file

    found = cached_file(path, name, _raise_exceptions_for_missing_entries=False)
    return Path(found) if found else None


def takes_video_processor(processor_class: type) -> bool:
    """Whether ``processor_class`` is built with a video processor: a parameter of its
    ``__init__`` named ``video_processor``."""
    return "video_processor" in inspect.signature(processor_class.__init__).parameters


def images_only(processor_class: type, image_processor: Any, tokenizer: Any, *,
                video_settings: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    """``processor_class`` built from ``image_processor`` and ``tokenizer``, with no
    video processor. It relies on ``ProcessorMixin`` finding a processor's parts from
    the parameters of its ``__init__`` (``get_attributes``): the subclass's ``__init__``
    has no ``video_processor``, and passes ``video_processor=None`` to the class's own.
    The subclass keeps the class's name, and saves ``video_settings`` (the folder's
    video processor, as data) with its own, so a trained model or an export saves as the
    whole processor it came from."""

    def __init__(self: Any, image_processor: Any = None, tokenizer: Any = None,
                 chat_template: Any = None, **kwargs: Any) -> None:
        processor_class.__init__(self, image_processor=image_processor, tokenizer=tokenizer,
                                 video_processor=None, chat_template=chat_template, **kwargs)
        self.video_processor = None

    def to_dict(self: Any) -> dict[str, Any]:
        saved: dict[str, Any] = processor_class.to_dict(self)
        if video_settings:
            saved["video_processor"] = dict(video_settings)
        return saved

    cls = type(processor_class.__name__, (processor_class,),
               {"__init__": __init__, "to_dict": to_dict})
    return cls(image_processor, tokenizer, **kwargs)
