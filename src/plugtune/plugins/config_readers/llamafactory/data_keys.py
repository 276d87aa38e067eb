"""The data and template keys of a LLaMA-Factory config (part of :mod:`.llamafactory`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from plugtune.core.validation import did_you_mean
from plugtune.plugins.config_readers.llamafactory import templates

if TYPE_CHECKING:
    from plugtune.plugins.config_readers.llamafactory.conversion import Conversion


def map_data(conv: Conversion) -> None:
    train, evaluation = split_list(conv.get("dataset")), split_list(conv.get("eval_dataset"))
    if train:
        conv.put("data.train", train)
    if evaluation:
        conv.put("data.eval", evaluation)
    folder = conv.get("dataset_dir")
    if isinstance(folder, str) and folder.startswith("REMOTE:"):
        # a dataset folder kept as a hub dataset repository (plugtune.data.hub)
        conv.put("data.dataset_dir", f"hf://{folder.removeprefix('REMOTE:')}")
    elif folder == "ONLINE":
        conv.refuse("dataset_dir", "'ONLINE' names each dataset by its hub id; plugtune "
                    "reads dataset folders: a local one, or a hub dataset repository that "
                    "holds a dataset_info.json (dataset_dir: REMOTE:owner/name)")
    elif folder or train or evaluation:
        conv.put("data.dataset_dir", folder or "data")  # LLaMA-Factory's default
    if conv.training or conv.has("cutoff_len"):
        conv.put("data.cutoff_len", conv.get("cutoff_len", 2048))
        # LLaMA-Factory cuts each turn's prompt and answer in proportion (never dropping
        # an example whose prompt is long): the same examples, so the same shuffle
        conv.put("data.overflow", "turns")
        # … and its templates put what follows the end-of-turn token (ChatML's newline)
        # in the answer, so it is trained
        conv.put("data.train_suffix", True)
    map_tokenized_path(conv)
    map_streaming(conv)
    for key in ("max_samples", "val_size"):
        if conv.has(key):
            conv.put(f"data.{key}", conv.get(key))
    if conv.get("val_size", 0) >= 1:
        conv.refuse("val_size", "plugtune takes a share below 1 (a count of records is "
                    "not supported)")
    mix = conv.get("mix_strategy", "concat")
    if mix != "concat":
        conv.refuse("mix_strategy", f"{mix}: plugtune interleaves one record of each "
                    "dataset in turn until all are used up (mix: interleave), neither "
                    "stopping at the shortest nor repeating; use concat or a plugtune config")
    if conv.get("train_on_prompt", False):
        conv.refuse("train_on_prompt", "plugtune always leaves the prompt out of the loss")
    if conv.get("mask_history", False):
        conv.put("data.train_on", "last")
    map_packing(conv)


def map_tokenized_path(conv: Conversion) -> None:
    """``tokenized_path`` is ``data.prepared``: a folder that is there is read, a missing
    one is encoded, saved there and trained on (as LLaMA-Factory does)."""
    folder = conv.get("tokenized_path")
    if folder is None:
        return
    conv.put("data.prepared", str(folder))
    conv.note("tokenized_path", "where LLaMA-Factory reads a folder ignoring the other data "
              "keys, plugtune checks them (and the tokenizer and template) against the "
              "folder's manifest and stops at a difference; it reads folders plugtune "
              "prepared (plugtune data prepare), not LLaMA-Factory's")


def map_streaming(conv: Conversion) -> None:
    """``streaming`` is ``data.streaming`` (records read and encoded while training, with
    ``max_steps``), ``buffer_size`` its shuffle buffer, as in LLaMA-Factory."""
    if conv.get("streaming", False):
        conv.put("data.streaming", True)
        conv.put("data.buffer_size", conv.get("buffer_size", 16384))  # LLaMA-Factory's
    elif conv.has("buffer_size"):
        conv.note("buffer_size", "the shuffle buffer of streaming, which is off; has no effect")


def map_packing(conv: Conversion) -> None:
    packing, neat = conv.get("packing"), conv.get("neat_packing", False)
    if conv.stage == "pt":
        if packing is False:
            conv.refuse("packing", "plugtune's pt trainer always joins the texts and cuts "
                        "them into cutoff_len blocks (LLaMA-Factory's pt packing)")
    elif neat:
        conv.put("data.packing", True)
    elif packing:
        conv.put("data.packing", True)
        conv.note("packing", "plugtune keeps packed examples from attending to each other "
                  "(LLaMA-Factory's neat_packing); plain packing lets them")


def map_template(conv: Conversion) -> None:
    """``template`` (with ``enable_thinking`` and ``default_system``, its options here),
    as :mod:`.templates` says for each of LLaMA-Factory's names."""
    name, thinking = conv.get("template"), conv.keys.get("enable_thinking")
    conv.seen.add("enable_thinking")
    if name == "fewshot" and conv.has("task"):
        return  # an eval config's plain prompt: see eval_keys
    if name is None:
        if thinking is not None:
            conv.note("enable_thinking", "no template is named: plugtune uses the "
                      "model's own chat template as it is; has no effect")
        put_template(conv, None, {})
        return
    name = str(name)
    outcome = templates.TEMPLATES.get(name)
    if outcome is None:
        refuse_unknown_template(conv, name)
        return
    if outcome.template is None:
        conv.refuse("template", f"{name!r} {outcome.note}")
        return
    target = outcome.template
    if outcome.note:
        conv.note("template", f"{name} -> {target}: {outcome.note}")
    elif target == "hf":
        conv.note("template", f"{name} -> hf: plugtune has no {name} template of its own; "
                  "it renders the model's own chat template and checks, when the run "
                  f"starts, that it writes what LLaMA-Factory's {name} writes")
    options: dict[str, Any] = dict(outcome.options)
    if target == "hf":
        options.update(templates.hf_options(name, conv.get("default_system")))
    if target == "qwen3" and thinking is not None:
        options["enable_thinking"] = bool(thinking)
    elif thinking is not None and name == "deepseekr1" and not thinking:
        conv.refuse("enable_thinking", f"plugtune's {target} has no thinking switch")
    elif thinking is not None:
        conv.note("enable_thinking", f"{thinking!r}: template {name} has no thinking "
                  "switch here; has no effect")
    put_template(conv, target, options)


def refuse_unknown_template(conv: Conversion, name: str) -> None:
    """A name LLaMA-Factory 0.9.5 does not register (a newer one, or a typo)."""
    if any(part in name for part in templates.MULTIMODAL_HINTS):
        conv.refuse("template", f"{name!r} {templates.MULTIMODAL}")
        return
    conv.refuse("template", f"LLaMA-Factory {templates.LLAMAFACTORY_VERSION} has no template "
                f"{name!r}{did_you_mean(name, templates.TEMPLATES)}; docs/llamafactory.md "
                "lists its templates and what plugtune does with each. Or leave template "
                "out: plugtune then renders the model's own chat template")


def put_template(conv: Conversion, target: str | None, options: dict[str, Any]) -> None:
    """The template section, with ``default_system`` (LLaMA-Factory's replacement of the
    template's default system prompt) as the template's option of that name."""
    system = conv.get("default_system")
    if system is not None and target in templates.NO_SYSTEM_ROLE:
        conv.refuse("default_system", f"plugtune's {target} template follows the model's "
                    "own chat template, which has no system role (it raises on a system "
                    "message); put the instruction in the user turns instead")
    elif system is not None:
        options["default_system"] = str(system)
        if target is None:
            target = "hf"
            conv.note("default_system", "no template is named: plugtune renders the "
                      "model's own chat template (template: hf) with this system prompt "
                      "for conversations without one")
    if target is not None:
        conv.put("template", {"name": target, **options} if options else target)


def split_list(value: Any) -> list[str]:
    """LLaMA-Factory's comma lists (``identity,alpaca_en_demo``); YAML lists pass."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else [str(item) for item in value]
    return [item.strip() for item in items if item.strip()]
