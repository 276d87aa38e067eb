"""The contract of every entry of plugtune's compat layer (src/plugtune/compat/): what each
one relies on in transformers, TRL, PEFT, llama.cpp's converter and sacrebleu, checked on
the installed versions. A failure names the entry and what upstream changed, so an
upgrade is a list of entries to fix, not a hunt."""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import needs_gguf_converter


def holds(condition: bool, entry: str, what: str) -> None:
    """Fail naming the compat ``entry`` and what it relies on."""
    assert condition, (f"compat entry {entry}: {what} no longer holds in the installed "
                       f"version; fix the entry in src/plugtune/compat/ (its docstring says "
                       f"what it relies on)")


def parameters(function: Callable[..., Any]) -> list[str]:
    return list(inspect.signature(function).parameters)


def assigned_attributes(cls: type) -> set[str]:
    """The ``self.<name>`` a class's source assigns, anywhere in its methods."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    return {target.attr for node in ast.walk(tree) if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)
            and target.value.id == "self"}


def method_of(path: Path, cls: str, method: str) -> ast.FunctionDef | None:
    """The ``method`` of class ``cls`` in the Python file ``path`` (read, not imported)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == cls:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == method:
                    return item
    return None


# ------------------------------------------------------------------------ transformers


def test_trainer_hooks():
    from transformers import Trainer

    holds(parameters(Trainer._get_train_sampler) == ["self", "train_dataset"]
          and inspect.signature(Trainer._get_train_sampler).parameters["train_dataset"].default
          is None, "transformers.TrainerHooks", "Trainer._get_train_sampler(self, "
          "train_dataset=None)")
    holds(parameters(Trainer._get_eval_sampler) == ["self", "eval_dataset"],
          "transformers.TrainerHooks", "Trainer._get_eval_sampler(self, eval_dataset)")
    holds(parameters(Trainer._track_num_input_tokens) == ["self", "inputs"],
          "transformers.TrainerHooks", "Trainer._track_num_input_tokens(self, inputs)")
    source = inspect.getsource(Trainer)
    holds("self._track_num_input_tokens(" in source, "transformers.TrainerHooks",
          "the Trainer counting each batch through _track_num_input_tokens")


@pytest.mark.parametrize(("entry", "attributes"), [
    ("transformers.loss_takes_item_count", {"model_accepts_loss_kwargs"}),
    ("transformers.plain_causal_lm_loss", {"label_smoother", "compute_loss_func"}),
])
def test_trainer_loss_settings(entry, attributes):
    from transformers import Trainer

    missing = attributes - assigned_attributes(Trainer)
    holds(not missing, entry, f"Trainer setting self.{', self.'.join(sorted(attributes))}")


def test_attention_implementation():
    from transformers import PretrainedConfig

    from plugtune.compat.transformers import attention_implementation

    found = inspect.getattr_static(PretrainedConfig, "_attn_implementation", None)
    holds(isinstance(found, property), "transformers.attention_implementation",
          "PretrainedConfig._attn_implementation being a property")
    config = PretrainedConfig()
    config._attn_implementation = "sdpa"
    holds(attention_implementation(config) == "sdpa", "transformers.attention_implementation",
          "PretrainedConfig._attn_implementation reading back what was set")


def test_sdpa_functions():
    from transformers.integrations.sdpa_attention import sdpa_attention_forward
    from transformers.masking_utils import sdpa_mask

    holds(parameters(sdpa_attention_forward)[:5] == ["module", "query", "key", "value",
                                                     "attention_mask"]
          and {"dropout", "scaling", "kwargs"} <= set(parameters(sdpa_attention_forward)),
          "transformers.sdpa_attention", "sdpa_attention_forward(module, query, key, value, "
          "attention_mask, dropout=, scaling=, **kwargs)")
    holds({"batch_size", "q_length", "kv_length", "q_offset", "kv_offset", "attention_mask",
           "kwargs"} <= set(parameters(sdpa_mask)), "transformers.sdpa_mask",
          "sdpa_mask(batch_size=, q_length=, kv_length=, q_offset=, kv_offset=, "
          "attention_mask=, **kwargs)")


def test_register_attention():
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    from plugtune.compat.transformers import register_attention

    def attention(*args, **kwargs):
        return None

    def mask(**kwargs):
        return None

    register_attention("plugtune_contract_probe", attention, mask)
    holds(AttentionInterface._global_mapping.get("plugtune_contract_probe") is attention
          and AttentionMaskInterface._global_mapping.get("plugtune_contract_probe") is mask,
          "transformers.register_attention",
          "AttentionInterface / masking_utils.AttentionMaskInterface .register(name, fn)")


def test_plain_causal_attention():
    import transformers.models.gemma2.modeling_gemma2 as gemma2
    import transformers.models.gpt_oss.modeling_gpt_oss as gpt_oss

    from plugtune.compat.transformers import plain_causal_attention

    # The keywords the entry looks for are the ones those models pass to the attention
    # function, and attention modules still say whether they are causal.
    holds("softcap=" in inspect.getsource(gemma2.Gemma2Attention.forward)
          and "s_aux=" in inspect.getsource(gpt_oss.GptOssAttention.forward)
          and "is_causal" in assigned_attributes(gemma2.Gemma2Attention),
          "transformers.plain_causal_attention",
          "Gemma 2's attention passes softcap=, gpt-oss's s_aux=, modules set is_causal")
    causal = type("Attention", (), {"is_causal": True})()
    assert plain_causal_attention(causal, {"softcap": None, "dropout": 0.0})
    assert not plain_causal_attention(causal, {"softcap": 50.0})
    assert not plain_causal_attention(causal, {"s_aux": object()})
    assert not plain_causal_attention(type("Encoder", (), {"is_causal": False})(), {})


def test_cached_model_file(tmp_path):
    from transformers.utils.hub import cached_files

    from plugtune.compat.transformers import cached_model_file

    holds("_raise_exceptions_for_missing_entries" in parameters(cached_files),
          "transformers.cached_model_file",
          "cached_file(s)(…, _raise_exceptions_for_missing_entries=)")
    (tmp_path / "config.json").write_text("{}", encoding="utf-8")
    holds(cached_model_file(str(tmp_path), "processor_config.json") is None
          and cached_model_file(str(tmp_path), "config.json") == tmp_path / "config.json",
          "transformers.cached_model_file", "cached_file giving None for a missing file")


def test_images_only_processor():
    from transformers import Qwen2VLProcessor

    from plugtune.compat.transformers import takes_video_processor

    holds(parameters(Qwen2VLProcessor.__init__)[:5] == ["self", "image_processor", "tokenizer",
                                                        "video_processor", "chat_template"]
          and takes_video_processor(Qwen2VLProcessor), "transformers.images_only",
          "Qwen2VLProcessor.__init__(image_processor, tokenizer, video_processor, "
          "chat_template)")
    holds("video_processor" in Qwen2VLProcessor.get_attributes(), "transformers.images_only",
          "ProcessorMixin.get_attributes listing the video processor")
    # images_only's subclass: an __init__ without video_processor
    def __init__(self: Any, image_processor: Any = None, tokenizer: Any = None,
                 chat_template: Any = None, **kwargs: Any) -> None: ...

    subclass = type("Qwen2VLProcessor", (Qwen2VLProcessor,), {"__init__": __init__})
    holds("video_processor" not in subclass.get_attributes(), "transformers.images_only",
          "ProcessorMixin finding a processor's parts from its __init__'s parameters")


# ------------------------------------------------------------------------------- TRL


@pytest.mark.parametrize("trainer", ["DPOTrainer", "KTOTrainer"])
def test_pretokenized(trainer):
    import trl

    found = getattr(trl, trainer)
    holds(parameters(found._prepare_dataset) == ["self", "dataset", "processing_class", "args",
                                                 "dataset_name"],
          "trl.Pretokenized", f"{trainer}._prepare_dataset(self, dataset, processing_class, "
          "args, dataset_name)")
    holds("self._prepare_dataset(" in inspect.getsource(found.__init__), "trl.Pretokenized",
          f"{trainer}.__init__ preparing its datasets with _prepare_dataset")


@pytest.mark.parametrize("module", ["orpo", "cpo"])
def test_rows_as_given(module):
    import importlib

    found = getattr(importlib.import_module(f"trl.experimental.{module}"),
                    f"{module.upper()}Trainer")
    holds(parameters(found.tokenize_row) == ["self", "feature", "model"], "trl.RowsAsGiven",
          f"{found.__name__}.tokenize_row(self, feature, model=None)")
    holds("map(self.tokenize_row" in inspect.getsource(found.__init__), "trl.RowsAsGiven",
          f"{found.__name__}.__init__ mapping tokenize_row over its datasets")


def test_computes_kl():
    from trl import KTOTrainer

    holds("calculate_KL" in assigned_attributes(KTOTrainer), "trl.computes_kl",
          "KTOTrainer setting self.calculate_KL")


def test_rollout_state():
    """Agentic GRPO's rollout_func reads these GRPOTrainer attributes; TRL resets one
    environment per rollout before it, passes them to the rewards, and reads env_mask."""
    from trl import GRPOTrainer
    from trl.models import unwrap_model_for_generation

    from plugtune.compat.trl import ROLLOUT_ATTRIBUTES, ROLLOUT_MASK

    entry = "trl.rollout_state"
    missing = set(ROLLOUT_ATTRIBUTES) - assigned_attributes(GRPOTrainer)
    holds(not missing, entry, f"GRPOTrainer setting self.{', self.'.join(sorted(missing))}")
    holds({"rollout_func", "environment_factory"} <= set(parameters(GRPOTrainer.__init__)),
          entry, "GRPOTrainer(rollout_func=…, environment_factory=…)")
    generate = inspect.getsource(GRPOTrainer._generate)
    holds(f'extra_fields.pop("{ROLLOUT_MASK}"' in generate, entry,
          f"GRPOTrainer._generate taking rollout_func's {ROLLOUT_MASK!r} as its tool mask")
    scoring = inspect.getsource(GRPOTrainer._generate_and_score_completions)
    holds("environment.reset(**reset_kwargs)" in scoring, entry,
          "each rollout's environment reset with its dataset row before generation")
    holds('reward_kwargs["environments"] = self.environments'
          in inspect.getsource(GRPOTrainer._calculate_rewards), entry,
          "the rewards receiving the rollouts' environments as `environments`")
    holds({"gather_deepspeed3_params", "generation_kwargs", "gradient_checkpointing_kwargs"}
          <= set(parameters(unwrap_model_for_generation)), entry,
          "trl.models.unwrap_model_for_generation's keywords")


def test_tool_check_passed():
    """TRL checks the tokenizer's template for tool calls in GRPOTrainer.__init__ only;
    the stand-in template passes that check, and the tokenizer gets its own back."""
    from transformers import AutoTokenizer
    from trl import GRPOTrainer
    from trl.chat_template_utils import supports_tool_calling

    from plugtune.compat.trl import tool_check_passed
    from plugtune.models import resolve_model_path

    entry = "trl.tool_check_passed"
    holds("supports_tool_calling(processing_class)" in inspect.getsource(GRPOTrainer.__init__),
          entry, "GRPOTrainer.__init__ checking supports_tool_calling(processing_class)")
    for method in ("_generate", "_generate_and_score_completions", "_calculate_rewards"):
        holds("supports_tool_calling" not in inspect.getsource(getattr(GRPOTrainer, method)),
              entry, f"GRPOTrainer.{method} not checking the template again")
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path("tiny://llama"))
    own = tokenizer.chat_template
    with tool_check_passed(tokenizer):
        holds(supports_tool_calling(tokenizer), entry,
              "trl.chat_template_utils.supports_tool_calling accepting TOOL_EXCHANGE_JINJA")
    assert tokenizer.chat_template == own


def test_concatenated_forward_layout():
    from trl.experimental.orpo import ORPOTrainer

    from plugtune.compat.trl import CONCATENATED_FORWARD

    tree = ast.parse(textwrap.dedent(inspect.getsource(ORPOTrainer.concatenated_forward)))
    layouts = [[ast.unparse(item) for item in node.value.elts] for node in ast.walk(tree)
               if isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple)]
    holds(bool(layouts) and all(tuple(layout[:len(CONCATENATED_FORWARD)]) == CONCATENATED_FORWARD
                                for layout in layouts),
          "trl.with_chosen_nll / CONCATENATED_FORWARD",
          f"ORPOTrainer.concatenated_forward returning {CONCATENATED_FORWARD} in that order "
          f"(it returns {layouts})")


@pytest.mark.parametrize("trainer", ["DPOTrainer", "KTOTrainer"])
def test_reference_adapter_and_fused_call(trainer):
    import trl

    from plugtune.compat.trl import FUSED_CALL, FUSED_CALL_SWITCH, REFERENCE_ADAPTER

    source = inspect.getsource(getattr(trl, trainer))
    holds(f'add_adapter("{REFERENCE_ADAPTER}"' in source, "trl.REFERENCE_ADAPTER",
          f"{trainer} naming its frozen reference adapter {REFERENCE_ADAPTER!r}")
    calls = [{keyword.arg for keyword in node.keywords} for node in ast.walk(ast.parse(
        textwrap.dedent(source))) if isinstance(node, ast.Call)
        and any(keyword.arg == FUSED_CALL_SWITCH for keyword in node.keywords)]
    holds(bool(calls) and all(named - {None} <= FUSED_CALL for named in calls)
          and '["use_cache"] = False' in source, "trl.FUSED_CALL",
          f"{trainer} scoring with model(**model_kwargs, labels=…, {FUSED_CALL_SWITCH}=True), "
          f"model_kwargs being input_ids, attention_mask and use_cache")


# ------------------------------------------------------------------------------ PEFT


def test_a_new_lora_adapter_starts_as_the_identity():
    import torch
    from peft import LoraConfig, get_peft_model

    from plugtune.compat.peft import starts_as_identity

    config = LoraConfig(r=2, target_modules=["0"])
    torch.manual_seed(0)
    base = torch.nn.Sequential(torch.nn.Linear(4, 4))
    inputs = torch.randn(3, 4)
    expected = base(inputs)
    adapted = get_peft_model(base, config)
    holds(starts_as_identity(config) and torch.equal(adapted(inputs), expected),
          "peft.starts_as_identity", "a new LoRA adapter (init_lora_weights=True) adding "
          "exactly 0.0")
    holds(not starts_as_identity(LoraConfig(use_dora=True)), "peft.starts_as_identity",
          "LoraConfig.use_dora")


# ----------------------------------------------------------------- llama.cpp converter


@needs_gguf_converter
def test_converter_pre_tokenizer_lookup():
    from plugtune.deploy.llamacpp_source import converter_dir

    method = method_of(converter_dir() / "conversion" / "base.py", "TextModel",
                       "get_vocab_base_pre")
    holds(method is not None and [arg.arg for arg in method.args.args] == ["self", "tokenizer"]
          and "NotImplementedError" in ast.unparse(method),
          "llamacpp.fall_back_to_pre_tokenizer", "conversion.base.TextModel."
          "get_vocab_base_pre(self, tokenizer) raising NotImplementedError for an unknown hash")


@needs_gguf_converter
def test_gguf_header_writing():
    from plugtune.deploy.llamacpp_source import converter_dir

    writer = converter_dir() / "gguf-py" / "gguf" / "gguf_writer.py"
    for method in ("write_header_to_file", "add_bool", "add_uint32", "add_string"):
        holds(method_of(writer, "GGUFWriter", method) is not None,
              "llamacpp.add_header_metadata", f"gguf-py's GGUFWriter.{method}")


# -------------------------------------------------------------------------- sacrebleu


@pytest.mark.parametrize("metric", ["BLEU", "CHRF", "TER"])
def test_corpus_statistics(metric):
    import sacrebleu

    from plugtune.compat.sacrebleu import corpus_statistics

    scorer = getattr(sacrebleu.metrics, metric)()
    holds(parameters(scorer._extract_corpus_statistics) == ["hypotheses", "references"],
          "sacrebleu.corpus_statistics", f"{metric}._extract_corpus_statistics(hypotheses, "
          "references)")
    hyps, refs = ["the cat sat", "a dog"], [["the cat sat", "a dog ran"]]
    stats = corpus_statistics(scorer, hyps, refs)
    holds(len(stats) == 2 and scorer._compute_score_from_stats(
        [sum(column) for column in zip(*stats, strict=True)]).score
        == pytest.approx(scorer.corpus_score(hyps, refs).score),
        "sacrebleu.corpus_statistics", "per-sample statistics summing to the corpus score")
