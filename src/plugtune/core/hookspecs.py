"""The contract with plugin authors: one hook per kind of component.

Every hook receives a ``register`` callable. Registering is cheap: it records a name
and the component (an object, or a ``"package.module:attr"`` string imported on first
use), never loads a model. Import heavy libraries inside the component, not at the top
of the plugin module, so ``plugtune --help`` stays fast.

``register(name, component, *, options=None, doc=None)``: ``options`` is a pydantic
model validating the component's section of a run config (by default the component's
``Options`` attribute, if it has one); ``doc`` defaults to the first docstring line.
Loaders, templates, trainers, backends, retrievers and callbacks are factories, called
with their validated options; a reward or metric with an options model is a factory too,
one without is used as registered.
"""

from __future__ import annotations

from typing import Any

import pluggy

PROJECT_NAME = "plugtune"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_loaders(register: Any) -> None:
    """Register data formats: ``factory(**options)`` returning an object whose
    ``convert(row, origin) -> record`` turns one source row into a canonical record."""


@hookspec
def register_templates(register: Any) -> None:
    """Register chat templates: ``factory(**options)`` returning a ``ChatTemplate``
    whose ``segments(conversation)`` join to the model's own rendering, answers marked
    trainable, with ``stop_strings`` that end an assistant turn."""


@hookspec
def register_trainers(register: Any) -> None:
    """Register training algorithms (sft, dpo, grpo, …): ``factory(**options)`` returning
    an object whose ``train(run)`` trains and writes its outputs to the run's output dir."""


@hookspec
def register_rewards(register: Any) -> None:
    """Register reward functions: ``fn(prompts, completions, **columns) -> list[float | None]``
    (TRL's shape, called with keywords; None: does not apply to that sample), or a factory
    taking the config's options and returning such a function (docs/rewards.md)."""


@hookspec
def register_backends(register: Any) -> None:
    """Register inference backends: ``factory(**options)`` returning a ``Backend`` that
    ``load(config, session)`` binds to the run's model, then ``generate(conversations,
    params) -> list[str]``, ``stream(conversation, params)`` and ``use_adapter(name)``."""


@hookspec
def register_metrics(register: Any) -> None:
    """Register metrics: ``fn(predictions, references, **options) -> dict[str, float]``
    for the corpus, or an object that also scores each sample."""


@hookspec
def register_retrievers(register: Any) -> None:
    """Register retrievers for RAG: ``factory(**options)`` returning an object whose
    ``retrieve(question, k) -> list[passage]`` finds context passages."""


@hookspec
def register_callbacks(register: Any) -> None:
    """Register trainer callbacks: ``factory(**options)`` returning a
    ``transformers.TrainerCallback`` (early stopping, sample generation, …)."""


@hookspec
def register_commands(register: Any) -> None:
    """Register CLI commands: ``register(command)`` with a ``click.Command`` or group;
    it becomes ``plugtune <command.name>``."""
