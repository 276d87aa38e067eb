"""Running TRL's preference trainers (``DPOTrainer``, ``KTOTrainer``,
``RewardTrainer``) the plugtune way: their config from the ``training`` section with
plugtune's defaults and checks, pre-tokenized rows (:mod:`.preference_rows` makes them), the
reference model, plugtune's callbacks, resume and outputs, and the reward-curve PNG."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from typing import Any

from plugtune.compat import trl as trl_compat
from plugtune.core.errors import ConfigError
from plugtune.core.interfaces import TrainingRun
from plugtune.core.records import Conversation, Record

log = logging.getLogger(__name__)


def trl_arguments(
    run: TrainingRun, config_class: type, trainer: str, options: Mapping[str, Any], *,
    has_eval: bool,
) -> Any:
    """A TRL config (``DPOConfig``, ``KTOConfig``, ``RewardConfig``, ``ORPOConfig``,
    ``CPOConfig``) for the run: plugtune's defaults and checks
    (:mod:`plugtune.training.run.arguments`: any field of the TRL config passes through
    ``training`` by name), the trainer's ``options``, and ``max_length`` from
    ``data.cutoff_len``. TRL's older trainers (ORPO, CPO) pad to the batch's longest row
    only: they have no ``pad_to_multiple_of``."""
    import dataclasses

    from plugtune.training.run.arguments import given_keys, training_argument_values
    from plugtune.training.run.causal_lm import pad_multiple

    config = run.config
    clash = sorted(given_keys(config.training) & set(options))
    if clash:
        raise ConfigError(
            f"training.{clash[0]}: a {trainer} option; set it as trainer: "
            f"{{name: {trainer}, {clash[0]}: …}}"
        )
    values = training_argument_values(
        config, run.output_dir, has_eval=has_eval, config_class=config_class,
        # transformers counts the real tokens of TRL's batches (plugtune's collators
        # are not used here).
        include_num_input_tokens_seen="non_padding",
    )
    if "pad_to_multiple_of" in {field.name for field in dataclasses.fields(config_class)}:
        values.setdefault("pad_to_multiple_of", pad_multiple())
    values["max_length"] = config.data.cutoff_len  # rows are cut to it already (counted)
    values.update(options)
    try:
        return config_class(**values)
    except ValueError as error:
        raise ConfigError(f"training: {error}") from None


# -------------------------------------------------------------------------------- run


def pretokenized(trainer_class: type) -> type:
    """``trainer_class`` taking plugtune's tokenized rows as they are (TRL's own dataset
    preparation renders and tokenizes text)."""
    class Tokenized(trl_compat.Pretokenized, trainer_class):  # type: ignore[misc, valid-type]
        pass

    Tokenized.__name__ = Tokenized.__qualname__ = trainer_class.__name__
    return Tokenized


def reference_model(run: TrainingRun, path: str | None) -> Any:
    """The frozen reference of dpo and kto, or None for TRL's default.

    ``path`` (the ``ref_model`` option) loads that model, under the run's ``model``
    settings. Without it, an adapter run needs no second model: TRL keeps a frozen copy
    of the adapter as it was when training started (so a run that continues an SFT
    adapter is held near that SFT model, and a new adapter near the base). A run that
    trains the model's own weights (freeze, full) gets a second copy of the base model,
    loaded here under plugtune's rules rather than by TRL from the model's name.
    """
    from plugtune.models import load_causal_lm
    from plugtune.training.run.finetuning import peft_method, quantization_of

    config = run.config
    if path is not None:
        reference = config.model.model_copy(update={"path": path, "adapter": None})
        return load_causal_lm(reference)
    method = peft_method(config, run.session)
    if method.adapter:
        return None
    return load_causal_lm(config.model, quantization_of(config, method))


def train_with_trl(
    run: TrainingRun, name: str, trainer_class: type, *, model: Any, args: Any, tokenizer: Any,
    train: list[dict[str, Any]], evaluation: list[dict[str, Any]],
    plot_keys: Sequence[str], processor: Any = None, fused_log_probs: bool = False,
    **trainer_kwargs: Any,
) -> dict[str, float]:
    """Train with a TRL trainer on plugtune's rows and callbacks; save the weights and
    the tokenizer (and a vision-language model's ``processor``) to the output dir; plot
    ``plot_keys`` into ``training_rewards.png``; return the metrics of training (and of
    a final evaluation). ``fused_log_probs``: the trainer scores its sequences through
    TRL's fused LM head (dpo, kto), and those calls are made padding-free where
    ``data.padding_free`` allows (:mod:`.flat_fused_calls`)."""
    from datasets import Dataset
    from peft import PeftModel
    from transformers import PrinterCallback

    from plugtune.plugins.trainers.preference.flat_fused_calls import flat_fused_calls
    from plugtune.training.run.causal_lm import run_callbacks, train_and_save
    from plugtune.training.run.plots import plot_rewards
    from plugtune.training.speed.padding_free import flat_row_attention, padding_free_wanted

    config = run.config
    flat = fused_log_probs and padding_free_wanted(config, model, text_rows=processor is None)
    try:
        trainer = trainer_class(
            model=model,
            args=args,
            train_dataset=Dataset.from_list(train),
            eval_dataset=Dataset.from_list(evaluation) if evaluation else None,
            processing_class=tokenizer,
            callbacks=run_callbacks(run),
            **trainer_kwargs,
        )
    except ValueError as error:  # TRL's checks of its settings
        raise ConfigError(f"trainer {name}: {error}") from None
    trainer.remove_callback(PrinterCallback)  # RichProgress shows the logs

    def without_reference() -> None:
        trained = trainer.accelerator.unwrap_model(trainer.model)
        if isinstance(trained, PeftModel) and trl_compat.REFERENCE_ADAPTER in trained.peft_config:
            trained.delete_adapter(trl_compat.REFERENCE_ADAPTER)  # TRL's frozen reference copy

    if base_is_reference(run, trainer.accelerator.unwrap_model(trainer.model)):
        without_reference()  # TRL then takes the reference with the adapter disabled

    models = [found for found in (trainer.model, getattr(trainer, "ref_model", None))
              if found is not None]
    with ExitStack() as padding_free:
        if flat:
            padding_free.enter_context(flat_row_attention(*models))
            padding_free.enter_context(flat_fused_calls(*models))
        metrics = train_and_save(run, trainer, evaluate=bool(evaluation),
                                 before_save=without_reference)
    if processor is not None and trainer.args.should_save:
        from plugtune.sdk.backends.vision import save_processor_files

        save_processor_files(processor, run.output_dir)  # the run's folder takes images
    if config.output.plot and trainer.is_world_process_zero():
        plot_rewards(run.output_dir, (*plot_keys, *(f"eval_{key}" for key in plot_keys)))
    return metrics


def base_is_reference(run: TrainingRun, model: Any) -> bool:
    """Whether the run trains a new adapter that starts as the identity
    (:func:`plugtune.compat.peft.starts_as_identity`: plain LoRA, whatever plugin made
    it), so the base model with the adapter disabled gives the reference's numbers to
    the last bit — without the adapter's matmuls that a frozen copy of it (TRL's ``ref``
    adapter for dpo and kto) would run at every step. A continued adapter
    (``model.adapter``), DoRA, or weights trained in place keep TRL's reference."""
    from peft import PeftModel

    from plugtune.compat.peft import starts_as_identity

    if run.config.model.adapter is not None or not isinstance(model, PeftModel):
        return False
    return starts_as_identity(model.peft_config[model.active_adapter])


def loaded_records(run: TrainingRun, *, images: bool = False
                   ) -> tuple[list[Record], list[Record], Any, Any]:
    """The run's train and eval records, its tokenizer and its template; records with
    images are refused unless the trainer takes them (``images``)."""
    from plugtune.data.datasets import load_datasets
    from plugtune.data.templates import tokenizer_and_template
    from plugtune.training.rows.images import text_only

    loaded = load_datasets(run.config.data, run.session)
    if not loaded.train:
        raise ConfigError("data.train: no training records (name a dataset in data.train)")
    trainer = run.config.trainer.name if run.config.trainer else "sft"
    if not images:
        for record in (*loaded.train, *loaded.eval):
            text_only(record, trainer)
    tokenizer, template = tokenizer_and_template(run.config, run.session)
    return loaded.train, loaded.eval, tokenizer, template


@dataclass
class PairRows:
    """Preference pairs as token rows per split (``{"train": …, "eval": …}``), the
    tokenizer, and for pairs with images the model's processor (else None)."""

    rows: dict[str, list[dict[str, Any]]]
    tokenizer: Any
    template: Any
    processor: Any = None
    with_images: Conversation | None = None
    """The first prompt with images, its placeholders written (checked before training)."""


def pair_rows_by_split(run: TrainingRun, trainer: str, *, whole: bool = False,
                       images: bool = False) -> PairRows:
    """The run's preference pairs as token rows (what dpo, rm, orpo, cpo and simpo train
    on; ``whole``: see ``pair_rows``). ``images``: prompts may have images (dpo); their
    placeholders are written as the processor's image prompt and each row names its
    images (:mod:`.image_pairs` batches them)."""
    from plugtune.plugins.trainers.preference.preference_examples import preference_pairs
    from plugtune.plugins.trainers.preference.preference_rows import pair_rows
    from plugtune.training.rows.images import image_processor_for, with_image_tokens

    train, evaluation, tokenizer, template = loaded_records(run, images=images)
    policy = run.config.data.on_bad_record
    pairs = {split: preference_pairs(records, trainer, policy)
             for split, records in (("train", train), ("eval", evaluation))}
    with_images = next((pair.prompt for split in pairs.values() for pair in split
                        if pair.prompt.meta.get("images")), None)
    processor = None
    if with_images is not None:
        processor = image_processor_for(run.config.model, tokenizer, with_images)
        with_images = with_image_tokens([with_images], processor)[0]
        pairs = {split: [replace(pair, prompt=with_image_tokens([pair.prompt], processor)[0])
                         for pair in found] for split, found in pairs.items()}
    rows = {split: pair_rows(found, template, tokenizer, run.config, split, whole=whole,
                             images=processor is not None)
            for split, found in pairs.items()}
    return PairRows(rows, tokenizer, template, processor, with_images)
