"""The ``llamafactory-cli eval`` keys of a LLaMA-Factory config (part of :mod:`.llamafactory`).

LLaMA-Factory's evaluator scores a model on MMLU, C-Eval or CMMLU (``task:
mmlu_test``, ``ceval_validation``, ``cmmlu_test``): ``n_shot`` solved dev questions
before each question, the answer read from the logits of the choice letters. That is
``plugtune eval`` on a benchmark folder, so such a config becomes
``evaluation.benchmark``: ``layout`` and ``split`` from ``task``, the folder
``{task_dir}/{name}`` (LLaMA-Factory's ``task_dir`` default is ``evaluation``), ``shots``
from ``n_shot`` and ``batch_size`` as given (LLaMA-Factory's defaults 5 and 4 stated),
the results in ``save_dir``. LLaMA-Factory's dataset scripts there download
``{name}.zip``; plugtune downloads nothing and reads the CSV files of that zip,
unpacked into the folder.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from plugtune.plugins.config_readers.llamafactory.conversion import Conversion

EVAL_KEYS = ("task", "task_dir", "batch_size", "lang", "n_shot", "save_dir", "download_mode")
DEFAULTS: dict[str, Any] = {"task_dir": "evaluation", "lang": "en", "n_shot": 5,
                            "batch_size": 4}
# benchmark -> its splits, LLaMA-Factory's name -> plugtune's (the few-shot examples are
# the train split there, the dev files here), and the language plugtune writes it in.
SPLITS = {
    "mmlu": {"train": "dev", "validation": "val", "test": "test"},
    "ceval": {"train": "dev", "validation": "val", "test": "test"},
    "cmmlu": {"train": "dev", "test": "test"},
}
LANGUAGES = {"mmlu": "en", "ceval": "zh", "cmmlu": "zh"}
FILES = {
    "mmlu": "[data/]{dev,val,test}/<subject>_<split>.csv",
    "ceval": "{dev,val,test}/<subject>_<split>.csv",
    "cmmlu": "{dev,test}/<subject>.csv",
}


def map_eval(conv: Conversion) -> None:
    """``task`` and its companions -> ``evaluation.benchmark`` (and ``output.dir``)."""
    if not conv.has("task"):
        for key in EVAL_KEYS:
            if conv.has(key):
                conv.refuse(key, "a `llamafactory-cli eval` setting, used with task "
                            "(mmlu_test, ceval_validation or cmmlu_test), which plugtune "
                            "runs as `plugtune eval CONFIG`; this config has no task")
        return
    name, _, split = str(conv.get("task")).rpartition("_")
    if split not in SPLITS.get(name, {}):
        conv.seen.update(EVAL_KEYS)
        conv.refuse("task", f"{conv.keys['task']!r}: LLaMA-Factory's tasks are "
                    f"<benchmark>_<split> of {', '.join(SPLITS)} (mmlu_test, "
                    "ceval_validation, cmmlu_test), which `plugtune eval` reads from folders")
        return
    folder = (PurePath(str(conv.get("task_dir", DEFAULTS["task_dir"]))) / name).as_posix()
    template = conv.keys.get("template")
    conv.put("evaluation", {"benchmark": {
        "path": folder, "layout": name, "split": SPLITS[name][split],
        "shots": conv.get("n_shot", DEFAULTS["n_shot"]),
        "batch_size": conv.get("batch_size", DEFAULTS["batch_size"]),
        "chat": template not in (None, "fewshot"),
    }})
    conv.note("task", f"`plugtune eval` reads {name} from {folder}: the CSV files of "
              f"LLaMA-Factory's {name}.zip unpacked there ({FILES[name]}); nothing is "
              "downloaded. The few-shot examples are the first n_shot dev questions of "
              "each subject (LLaMA-Factory samples them at random)")
    if conv.has("save_dir"):
        conv.put("output.dir", str(conv.get("save_dir")))
    if conv.has("download_mode"):
        conv.note("download_mode", "plugtune reads the benchmark from its folder and "
                  "downloads nothing; has no effect")
    map_prompt(conv, name, template)


def map_prompt(conv: Conversion, name: str, template: Any) -> None:
    """``lang`` and ``template``: how the prompt is written."""
    lang = str(conv.get("lang", DEFAULTS["lang"]))
    if lang != LANGUAGES[name]:
        conv.note("lang", f"{lang}: plugtune writes the {name} prompt in "
                  f"{'English' if LANGUAGES[name] == 'en' else 'Chinese'}, the benchmark's "
                  "language, whatever lang says (LLaMA-Factory writes it in lang)")
    if template not in (None, "fewshot"):
        conv.note("template", "with a chat template, plugtune's benchmark prompt is the "
                  "whole few-shot prompt as one user turn of the tokenizer's own chat "
                  "template (evaluation.benchmark.chat); LLaMA-Factory writes each solved "
                  "example as a user and an assistant turn of the named template")
