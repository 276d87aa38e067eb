"""The training loop the ``sft`` and ``pt`` trainers share: encoded rows in, weights out.

transformers' ``Trainer`` on plugtune's pre-tokenized rows and collators — the lean
setup LLaMA-Factory runs underneath — rather than TRL's ``SFTTrainer``, whose per-step
entropy and token-accuracy metrics nearly halve throughput on small models.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from plugtune.core.interfaces import ChatTemplate, TrainingRun
from plugtune.core.records import Conversation
from plugtune.data.encoding import EncodingReport
from plugtune.training.run.arguments import training_arguments
from plugtune.training.run.checkpoints import resume_checkpoint
from plugtune.training.run.finetuning import trainable_model


@dataclass
class CausalLMData:
    """Rows (encoded examples or packed rows) per split, and how to batch them;
    ``processor``: a vision-language model's, saved with the trained weights."""

    train: Sequence[Any]
    collator: Callable[[Sequence[Any]], dict[str, Any]]
    eval: Sequence[Any] = field(default_factory=list)
    processor: Any = None


@dataclass
class EncodedRows:
    """The train and eval rows before batching, and what made them: the tokenizer, the
    template (None for raw text only), each split's encoding report, whether the rows
    are packed, and for image conversations the processor and the first such record."""

    rows: dict[str, Sequence[Any]]
    tokenizer: Any
    template: ChatTemplate | None = None
    reports: dict[str, EncodingReport] = field(default_factory=dict)
    packed: bool = False
    processor: Any = None
    with_images: Conversation | None = None


def pad_multiple() -> int | None:
    """Pad batches to a multiple of 8 on a GPU (tensor-core shapes); not on a CPU,
    where padding is only wasted work."""
    import torch

    return 8 if torch.cuda.is_available() else None


def configured_callbacks(run: TrainingRun) -> list[Any]:
    """The config's callback plugins, then those handed to the run (``--callback``)."""
    built = [run.session.build("callbacks", ref) for ref in run.config.callbacks]
    return [*built, *run.callbacks]


def run_callbacks(run: TrainingRun) -> list[Any]:
    """Every trainer's callbacks: ``trainer_log.jsonl``, the checkpoint-complete marker,
    the progress bar, stopping on SIGINT/SIGTERM with a checkpoint, then the configured
    ones (transformers' PrinterCallback is then redundant: remove it from the trainer)."""
    from plugtune.training.run.callbacks import CheckpointMarker, JsonlLog, RichProgress
    from plugtune.training.run.graceful_stop import GracefulStop

    return [JsonlLog(run.output_dir), CheckpointMarker(), RichProgress(), GracefulStop(),
            *configured_callbacks(run)]


def train_causal_lm(run: TrainingRun, data: CausalLMData, tokenizer: Any) -> dict[str, float]:
    """Train the configured model on ``data``; save weights and tokenizer to the run's
    output dir; return the metrics of training (and of a final evaluation)."""
    from transformers import PrinterCallback, set_seed

    from plugtune.training.rows.collators import FlatCollator, PackedCollator, PaddingCollator
    from plugtune.training.speed.hf_trainer import CountingTrainer
    from plugtune.training.speed.padding_free import flat_row_attention, padding_free_wanted

    config = run.config
    set_seed(config.training.seed)  # before the adapter is initialised: runs repeat
    model = trainable_model(config, run.session)
    text_rows = isinstance(data.collator, (PaddingCollator, PackedCollator))
    flat = padding_free_wanted(config, model, text_rows=text_rows)
    trainer = CountingTrainer(
        model=model,
        args=training_arguments(config, run.output_dir, has_eval=bool(data.eval)),
        # as they are: rows read from a prepared folder stay memory-mapped
        train_dataset=data.train,
        eval_dataset=data.eval or None,
        data_collator=FlatCollator() if flat else data.collator,
        processing_class=tokenizer,
        callbacks=run_callbacks(run),
    )
    trainer.remove_callback(PrinterCallback)  # RichProgress shows the logs
    with flat_row_attention(model) if flat else nullcontext():
        metrics = train_and_save(run, trainer, evaluate=bool(data.eval))
    if data.processor is not None and trainer.args.should_save:
        from plugtune.sdk.backends.vision import save_processor_files

        # the run's folder serves images like its base (full fine-tuning's is the model)
        save_processor_files(data.processor, run.output_dir)
    return metrics


def train_and_save(
    run: TrainingRun, trainer: Any, *, evaluate: bool,
    before_save: Callable[[], None] | None = None,
) -> dict[str, float]:
    """Train a transformers (or TRL) ``trainer``, resuming as the run says; evaluate when
    asked; save the weights (adapter or full), the tokenizer and the trainer state to the
    run's output dir; return the metrics. ``before_save`` runs just before saving. A run
    stopped by a signal ends after its checkpoint, with ``TrainingStopped``."""
    from plugtune.training.run.graceful_stop import raise_if_stopped

    resume = run.resume or run.config.training.resume_from_checkpoint
    result = trainer.train(resume_from_checkpoint=resume_checkpoint(resume, run.output_dir))
    raise_if_stopped(trainer)
    metrics = dict(result.metrics)
    if evaluate:
        metrics.update(trainer.evaluate())
    metrics["num_input_tokens_seen"] = trainer.state.num_input_tokens_seen
    if before_save is not None:
        before_save()
    trainer.save_model(str(run.output_dir))
    trainer.save_state()
    return metrics
