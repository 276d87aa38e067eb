"""Padding-free training: a batch is one row of its examples, with no padding.

A right-padded batch of eight alpaca_en_demo examples is about 30% padding, and every
linear layer, norm and attention runs on those positions for nothing.
:class:`~plugtune.training.rows.collators.FlatCollator` puts a batch's examples one after
another in a single row, ``position_ids`` restarting at each, and hands their
boundaries (``cu_seq_lens_q``, flash-attention's varlen convention) to the model, which
passes them on to its attention. Everything but attention works token by token and
cannot tell; attention must keep the examples apart:

- flash-attention (``flash_attention_2``/``3``, on a GPU) reads the boundaries itself
  (transformers' varlen path);
- any other model set up for SDPA gets :func:`segment_attention`, registered with
  transformers as ``"plugtune_segments"``: SDPA once per example with ``is_causal``, so
  no mask is built at all (and packed rows need no O(L²) block mask).

Losses and gradients are those of the padded batch (tests/test_padding_free.py).
``data.padding_free`` decides: true, false, or (unset) on for the model types listed in
:data:`CHECKED_MODEL_TYPES`, whose attention the tests compare with padded batches.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import pairwise
from typing import Any

from plugtune.compat.transformers import (
    attention_implementation,
    plain_causal_attention,
    register_attention,
    sdpa_attention,
    sdpa_mask,
)
from plugtune.core.config import RunConfig
from plugtune.core.errors import ConfigError

log = logging.getLogger(__name__)

ATTENTION = "plugtune_segments"
#: transformers' attention implementations that take varlen boundaries themselves.
VARLEN_ATTENTION = ("flash_attention_2", "flash_attention_3")
#: Models whose decoder attention goes through transformers' attention interface as a
#: plain causal SDPA (rotary positions from ``position_ids``), so a flat row gives the
#: padded batch's numbers: tests/test_padding_free.py checks each on a random model.
CHECKED_MODEL_TYPES = frozenset({"llama", "mistral", "qwen2", "qwen3", "phi3", "gemma"})


def padding_free_wanted(config: RunConfig, model: Any, *, text_rows: bool) -> bool:
    """Whether this run's batches become flat rows: ``data.padding_free`` if set (true
    refuses what cannot be flat), else for ``text_rows`` (plugtune's padded or packed
    text rows, TRL's text pairs; not rows with images, not a plugin's own) on a model of
    :data:`CHECKED_MODEL_TYPES` with SDPA or flash-attention."""
    setting = config.data.padding_free
    if setting is False:
        return False
    model_config = _base_model(model).config
    implementation = attention_implementation(model_config)
    fits = implementation == "sdpa" or implementation in VARLEN_ATTENTION
    if setting is None:
        return text_rows and fits and model_config.model_type in CHECKED_MODEL_TYPES
    if not text_rows:
        raise ConfigError(
            "data.padding_free: these rows stay padded (rows with images, whose image "
            "tokens are expanded per batch, or a trainer's own rows); set "
            "data.padding_free: false")
    if not fits:
        raise ConfigError(
            f"data.padding_free: the model's attention is {implementation!r}; padding-free "
            "rows need 'sdpa' or flash-attention; set data.padding_free: false")
    return True


@contextmanager
def flat_row_attention(*models: Any) -> Iterator[None]:
    """Within the block, each of ``models`` keeps the examples of a flat row apart: its
    own flash-attention does, else :func:`segment_attention` replaces SDPA (and the
    model's attention setting is put back afterwards, so nothing of it is saved)."""
    register_attention(ATTENTION, segment_attention, segment_mask)
    switched = []
    for model in models:
        base = _base_model(model)
        original = attention_implementation(base.config)
        if original not in VARLEN_ATTENTION:
            base.set_attn_implementation(ATTENTION)
            switched.append((base, original))
    log.info("padding-free batches: one row per batch, attention per example")
    try:
        yield
    finally:
        for base, original in switched:
            base.set_attn_implementation(original)


def segment_attention(
    module: Any, query: Any, key: Any, value: Any, attention_mask: Any, *,
    dropout: float = 0.0, scaling: float | None = None, sliding_window: int | None = None,
    cu_seq_lens_q: Any = None, position_ids: Any = None, **kwargs: Any,
) -> tuple[Any, None]:
    """transformers' attention-interface function for flat rows: causal SDPA over each
    example of the row (with a band mask where an example is longer than
    ``sliding_window``). Any other call (a padded batch, generation with a cache) is
    transformers' own SDPA."""
    import torch
    import torch.nn.functional as functional

    bounds = _example_bounds(query, key, attention_mask, cu_seq_lens_q, position_ids)
    if bounds is None:
        return sdpa_attention(module, query, key, value, attention_mask,
                              dropout=dropout, scaling=scaling, **kwargs)
    if not plain_causal_attention(module, kwargs):
        raise ConfigError("data.padding_free: this model's attention is not a plain causal "
                          "one (soft-capped scores, sink tokens, or not causal); set "
                          "data.padding_free: false")
    gqa = query.shape[1] != key.shape[1]
    outputs = []
    for start, end in pairwise(bounds):
        band = None
        if sliding_window is not None and end - start > sliding_window:
            places = torch.arange(end - start, device=query.device)
            distance = places[:, None] - places[None, :]
            band = (distance >= 0) & (distance < sliding_window)
        outputs.append(functional.scaled_dot_product_attention(
            query[:, :, start:end], key[:, :, start:end], value[:, :, start:end],
            attn_mask=band, dropout_p=dropout, is_causal=band is None, scale=scaling,
            enable_gqa=gqa))
    return torch.cat(outputs, dim=2).transpose(1, 2).contiguous(), None


def segment_mask(*, batch_size: int, q_length: int, kv_length: int, q_offset: Any = 0,
                 kv_offset: Any = 0, attention_mask: Any = None, **kwargs: Any) -> Any:
    """The mask transformers builds for :func:`segment_attention`: none for a single
    unpadded row without a cache (the attention keeps the row's examples apart itself,
    so a flat row gets no O(L²) block mask), else SDPA's own."""
    if (batch_size == 1 and attention_mask is None and q_length == kv_length
            and not q_offset and not kv_offset):
        return None
    return sdpa_mask(batch_size=batch_size, q_length=q_length, kv_length=kv_length,
                     q_offset=q_offset, kv_offset=kv_offset, attention_mask=attention_mask,
                     **kwargs)


def _example_bounds(query: Any, key: Any, attention_mask: Any, cu_seq_lens_q: Any,
                    position_ids: Any) -> list[int] | None:
    """Where the examples of a flat row start and end: the collator's boundaries, else
    where the ``position_ids`` of a single unmasked row restart (another flattening
    collator's rows, or one plain row); None for anything else."""
    if query.shape[0] != 1 or query.shape[2] != key.shape[2]:
        return None
    if cu_seq_lens_q is not None:
        return [int(bound) for bound in cu_seq_lens_q.tolist()]
    if attention_mask is not None or position_ids is None:
        return None
    starts = (position_ids[0] == 0).nonzero().flatten().tolist()
    return [*starts, query.shape[2]] if starts[:1] == [0] else None


def _base_model(model: Any) -> Any:
    """The transformers model under a PEFT wrapper."""
    getter = getattr(model, "get_base_model", None)
    return getter() if callable(getter) else model
