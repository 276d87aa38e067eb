"""The contract with plugin authors: one hook per kind of component.

Every hook receives ``register``: ``register("name", component, *, options=None,
doc=None)`` records a name and the component (or a ``"package.module:attr"`` string
imported on first use) and never loads a model, so ``plugtune --help`` stays fast. A
component with an options model (``options=`` or its ``Options``) is a factory called
with its validated options; so is every kind but rewards, metrics and commands even
without. The Protocols of :mod:`plugtune.core.interfaces` are the shapes;
docs/plugins.md has an example of each kind.
"""

from __future__ import annotations

import pluggy

from plugtune.core.interfaces import Register

PROJECT_NAME = "plugtune"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_loaders(register: Register) -> None:
    """Data formats: a :class:`Loader` turns one source row into a canonical record."""


@hookspec
def register_templates(register: Register) -> None:
    """Chat templates: a :class:`ChatTemplate` renders conversations as segments that
    join to the model's own rendering, answers marked trainable."""


@hookspec
def register_trainers(register: Register) -> None:
    """Training algorithms (sft, dpo, grpo, …): a :class:`Trainer` trains a run."""


@hookspec
def register_peft(register: Register) -> None:
    """What trains (``peft.type``): a :class:`PeftMethod` makes a model trainable."""


@hookspec
def register_rewards(register: Register) -> None:
    """Rewards for GRPO / PPO: a :class:`Reward`, ``fn(prompts, completions, **columns)``."""


@hookspec
def register_environments(register: Register) -> None:
    """Agentic RL: an :class:`Environment` (a factory, one instance per episode) whose
    public methods are the tools the model may call."""


@hookspec
def register_backends(register: Register) -> None:
    """Inference engines: a :class:`Backend` loads the run's model and answers."""


@hookspec
def register_metrics(register: Register) -> None:
    """Metrics: a :class:`Metric` scores predictions against references (per sample
    too, as a :class:`SampleMetric`; with the model, as a :class:`ModelMetric`)."""


@hookspec
def register_benchmarks(register: Register) -> None:
    """Multiple-choice benchmark folders: a :class:`BenchmarkLayout` for ``plugtune eval``."""


@hookspec
def register_retrievers(register: Register) -> None:
    """RAG: a :class:`Retriever` finds passages for a question."""


@hookspec
def register_callbacks(register: Register) -> None:
    """Trainer callbacks: a ``transformers.TrainerCallback`` (early stopping, …)."""


@hookspec
def register_commands(register: Register) -> None:
    """CLI commands: ``register(click_command)`` adds ``plugtune <command.name>``."""


@hookspec
def register_exporters(register: Register) -> None:
    """Deployable forms of a run (safetensors, GGUF, …): an :class:`Exporter` writes one."""


@hookspec
def register_config_readers(register: Register) -> None:
    """Other tools' config files: a :class:`ConfigReader` reads one as a plugtune run."""
