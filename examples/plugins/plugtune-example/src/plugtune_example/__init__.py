"""plugtune-example: one plugtune component of every kind, in a third-party package.

This module is the plugin: the entry point in ``pyproject.toml`` names it, and its
``@hookimpl`` functions register the components, one hook per kind. Each component
lives in a module of its own, whose docstring says what it demonstrates.

Registration must stay cheap: every ``plugtune`` command imports every plugin. So the
components are registered two ways:

- as objects, when their modules import nothing heavy (the reward, the metric, the
  callback, the command);
- as ``"plugtune_example.module:attr"`` strings, imported the first time a run uses
  them (everything else). plugtune then finds their ``Options`` model on the imported
  class; ``doc=`` gives ``plugtune plugins list`` their description without importing.

Nothing here, nor in any module, imports ``plugtune.plugins``: a third-party plugin
builds on the declared author's surface (``plugtune``, ``plugtune.core``,
``plugtune.sdk``, ``plugtune.training``, ``plugtune.data``), and uses plugtune's own
components by name through the registry, like ``jsonl_mc`` uses the ``mmlu`` loader.
"""

from __future__ import annotations

from plugtune import hookimpl
from plugtune.core.interfaces import Register
from plugtune_example.keyword_reward import KeywordOptions, keyword_reward
from plugtune_example.length_ratio import length_ratio
from plugtune_example.loss_printer import loss_printer
from plugtune_example.words_command import example_words

PACKAGE = __name__


def lazy(module: str, attribute: str) -> str:
    """A ``"package.module:attr"`` reference plugtune imports on first use."""
    return f"{PACKAGE}.{module}:{attribute}"


@hookimpl
def register_loaders(register: Register) -> None:
    register("qa", lazy("qa_loader", "QALoader"),
             doc='Rows of {"q": question, "a": answer} as a user question and its answer.')


@hookimpl
def register_templates(register: Register) -> None:
    register("bracket", lazy("bracket_template", "BracketTemplate"),
             doc="### Question / ### Answer turns ended by <|im_end|>, its Jinja written "
                 "by the SDK from slots.")


@hookimpl
def register_trainers(register: Register) -> None:
    register("answer_sft", lazy("answer_sft", "AnswerSFT"),
             doc="Supervised fine-tuning on the records whose final answer is long enough.")


@hookimpl
def register_environments(register: Register) -> None:
    register("guess_number", lazy("guess_number", "GuessNumber"),
             doc="Find a hidden number with higher/lower hints.")


@hookimpl
def register_peft(register: Register) -> None:
    register("bitfit", lazy("bitfit", "BitFit"),
             doc="BitFit: train only the bias parameters (and a reward model's score head).")


@hookimpl
def register_rewards(register: Register) -> None:
    register("keyword", keyword_reward, options=KeywordOptions)


@hookimpl
def register_backends(register: Register) -> None:
    register("lookup", lazy("lookup_backend", "LookupBackend"),
             doc="Answers the last user message from a table of answers (a model-free "
                 "baseline).")


@hookimpl
def register_metrics(register: Register) -> None:
    register("length_ratio", length_ratio)


@hookimpl
def register_benchmarks(register: Register) -> None:
    register("jsonl_mc", lazy("jsonl_mc", "JsonlMultipleChoice"),
             doc="{dev,test}/<subject>.jsonl multiple-choice files, read with the mmlu "
                 "loader.")


@hookimpl
def register_retrievers(register: Register) -> None:
    register("lines", lazy("lines_retriever", "LinesRetriever"),
             doc="Lines of a text file that share the most words with the question.")


@hookimpl
def register_callbacks(register: Register) -> None:
    register("loss_printer", loss_printer)


@hookimpl
def register_commands(register: Register) -> None:
    register(example_words)


@hookimpl
def register_exporters(register: Register) -> None:
    register("adapter_zip", lazy("adapter_archive", "AdapterArchive"),
             doc="The run's LoRA adapter, unmerged, in one zip file with a model card.")


@hookimpl
def register_config_readers(register: Register) -> None:
    register("example_yaml", lazy("example_yaml", "ExampleYamlReader"),
             doc="Files with an example_run: mapping (model, data, steps, lr) read as "
                 "plugtune runs.")
