"""LLaMA-Factory's flat YAML configs, key by key (tests/test_llamafactory_examples.py
lists every example config with its outcome)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from plugtune import ConfigError, load_config
from plugtune.cli import cli
from plugtune.plugins.config_readers.llamafactory.conversion import (
    convert_llamafactory,
    is_llamafactory_config,
)
from plugtune.plugins.config_readers.llamafactory.training_keys import (
    training_argument_fields,
)
from plugtune.sdk.cli import CliState
from tests.conftest import FIXTURES, needs_fixtures

NEW, OLD = "llamafactory_examples", "llamafactory_examples_v0.9.3"

# file -> (trainer, datasets, template, output dir, learning rate, deepspeed path)
TRAINING = {
    f"{NEW}/train_lora/qwen3_lora_sft.yaml":
        ("sft", ["identity", "alpaca_en_demo"], "chatml", "saves/qwen3-4b/lora/sft", 1e-4, None),
    f"{NEW}/train_lora/qwen3_lora_sft_ds3.yaml":
        ("sft", ["identity", "alpaca_en_demo"], "chatml", "saves/qwen3-4b/lora/sft", 1e-4,
         "examples/deepspeed/ds_z3_config.json"),
    f"{NEW}/train_lora/qwen3_lora_pretrain.yaml":
        ("pt", ["c4_demo"], None, "saves/qwen3-4b/lora/pretrain", 1e-4, None),
    f"{NEW}/train_lora/qwen3_lora_reward.yaml":
        ("rm", ["dpo_en_demo"], "chatml", "saves/qwen3-4b/lora/reward", 1e-4, None),
    f"{NEW}/train_lora/qwen3_lora_dpo.yaml":
        ({"name": "dpo", "beta": 0.1, "loss_type": "sigmoid"}, ["dpo_en_demo"], "chatml",
         "saves/qwen3-4b/lora/dpo", 5e-6, None),
    f"{NEW}/train_lora/qwen3_lora_kto.yaml":
        ({"name": "kto", "beta": 0.1}, ["kto_en_demo"], "chatml", "saves/qwen3-4b/lora/kto",
         5e-6, None),
    f"{OLD}/train_lora/llama3_lora_sft.yaml":
        ("sft", ["identity", "alpaca_en_demo"], "llama3", "saves/llama3-8b/lora/sft", 1e-4, None),
    f"{OLD}/train_lora/llama3_lora_sft_ds3.yaml":
        ("sft", ["identity", "alpaca_en_demo"], "llama3", "saves/llama3-8b/lora/sft", 1e-4,
         "examples/deepspeed/ds_z3_config.json"),
    f"{OLD}/train_lora/llama3_lora_pretrain.yaml":
        ("pt", ["c4_demo"], None, "saves/llama3-8b/lora/pretrain", 1e-4, None),
    f"{OLD}/train_lora/llama3_lora_reward.yaml":
        ("rm", ["dpo_en_demo"], "llama3", "saves/llama3-8b/lora/reward", 1e-4, None),
    f"{OLD}/train_lora/llama3_lora_dpo.yaml":
        ({"name": "dpo", "beta": 0.1, "loss_type": "sigmoid"}, ["dpo_en_demo"], "llama3",
         "saves/llama3-8b/lora/dpo", 5e-6, None),
    f"{OLD}/train_lora/llama3_lora_kto.yaml":
        ({"name": "kto", "beta": 0.1}, ["kto_en_demo"], "llama3", "saves/llama3-8b/lora/kto",
         5e-6, None),
    f"{OLD}/train_lora/llama3_lora_ppo.yaml":
        ({"name": "ppo", "reward_model": "saves/llama3-8b/lora/reward"},
         ["identity", "alpaca_en_demo"], "llama3", "saves/llama3-8b/lora/ppo", 1e-5, None),
}
# file -> (model, adapter, template)
INFERENCE = {
    f"{NEW}/inference/qwen3.yaml": ("Qwen/Qwen3-4B-Instruct-2507", None, "chatml"),
    f"{NEW}/inference/qwen3_full_sft.yaml": ("saves/qwen3-4b/full/sft", None, "chatml"),
    f"{NEW}/inference/qwen3_lora_sft.yaml":
        ("Qwen/Qwen3-4B-Instruct-2507", "saves/qwen3-4b/lora/sft", "chatml"),
    f"{OLD}/inference/llama3.yaml": ("meta-llama/Meta-Llama-3-8B-Instruct", None, "llama3"),
    f"{OLD}/inference/llama3_full_sft.yaml": ("saves/llama3-8b/full/sft", None, "llama3"),
    f"{OLD}/inference/llama3_lora_sft.yaml":
        ("meta-llama/Meta-Llama-3-8B-Instruct", "saves/llama3-8b/lora/sft", "llama3"),
}


@needs_fixtures
@pytest.mark.parametrize("name", sorted(TRAINING))
@pytest.mark.slow
def test_training_examples_convert(name):
    trainer, datasets, template, output, learning_rate, deepspeed = TRAINING[name]
    config = load_config(FIXTURES / name)
    dumped = config.model_dump(mode="json")
    assert dumped["trainer"] == trainer
    assert config.data.train == datasets
    assert config.data.dataset_dir == "data"  # LLaMA-Factory's default
    assert dumped["template"] == template
    assert config.output.dir == output
    assert config.output.overwrite is True
    assert config.output.plot is True
    assert (config.peft.type, config.peft.r, config.peft.alpha, config.peft.target) == (
        "lora", 8, 16, "all"
    )
    assert (config.data.cutoff_len, config.data.max_samples) == (2048, 1000)
    training = dumped["training"]
    assert training["learning_rate"] == learning_rate
    assert training["warmup_steps"] == 0.1  # warmup_ratio, read as a ratio by transformers 5
    assert training.get("deepspeed") == deepspeed
    assert training["gradient_checkpointing"] is True  # LLaMA-Factory's default
    assert training["bf16"] is True and training["lr_scheduler_type"] == "cosine"
    assert training["ddp_timeout"] == 180000000 and training["report_to"] == "none"
    assert training["resume_from_checkpoint"] is None  # overwrite_output_dir: true
    assert config.model.trust_remote_code is True


@needs_fixtures
def test_ppo_keeps_its_decoding_settings_and_llamafactory_sampling_defaults():
    config = load_config(FIXTURES / OLD / "train_lora/llama3_lora_ppo.yaml")
    generation = config.generation
    assert (generation.max_new_tokens, generation.top_k, generation.top_p) == (512, 0, 0.9)
    assert generation.temperature == 0.95  # do_sample is on by default there


@needs_fixtures
@pytest.mark.parametrize("name", sorted(INFERENCE))
@pytest.mark.slow
def test_inference_examples_convert(name):
    model, adapter, template = INFERENCE[name]
    config = load_config(FIXTURES / name)
    assert (config.model.path, config.model.adapter) == (model, adapter)
    assert config.template.name == template
    assert config.backend.name == "transformers"  # infer_backend: huggingface
    assert config.trainer is None
    assert (config.generation.temperature, config.generation.top_p) == (0.95, 0.7)
    assert config.generation.max_new_tokens == 1024


@needs_fixtures
def test_notes_tell_about_keys_without_effect(caplog):
    path = FIXTURES / OLD / "train_lora/llama3_lora_sft.yaml"
    converted = convert_llamafactory(yaml.safe_load(path.read_text()), source=str(path))
    assert any(note.startswith("preprocessing_num_workers: ") for note in converted.notes)
    assert any(note.startswith("overwrite_cache: ") for note in converted.notes)
    with caplog.at_level("WARNING", logger="plugtune"):
        load_config(path)
    assert "preprocessing_num_workers" in caplog.text


@needs_fixtures
def test_the_qwen3_nothink_template_is_explained():
    path = FIXTURES / NEW / "inference/qwen3.yaml"
    converted = convert_llamafactory(yaml.safe_load(path.read_text()), source=str(path))
    assert converted.config["template"] == "chatml"
    assert any(note.startswith("template: qwen3_nothink -> chatml") for note in converted.notes)


BASE = {
    "model_name_or_path": "tiny://qwen2",
    "stage": "sft",
    "do_train": True,
    "dataset": "identity",
    "output_dir": "saves/run",
    "overwrite_output_dir": True,
}


def convert(tmp_path: Path, **changes: Any) -> dict[str, Any]:
    path = tmp_path / "lf.yaml"
    path.write_text(yaml.safe_dump({**BASE, **changes}))
    load_config(path)  # the conversion validates
    return convert_llamafactory({**BASE, **changes}, source=str(path)).config


def refused(tmp_path: Path, **changes: Any) -> str:
    path = tmp_path / "lf.yaml"
    path.write_text(yaml.safe_dump({**BASE, **changes}))
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(path) in str(error.value)
    return str(error.value)


def test_llamafactory_defaults_are_stated_where_plugtunes_differ(tmp_path):
    config = convert(tmp_path, lora_rank=16)
    assert (config["peft"]["r"], config["peft"]["alpha"]) == (16, 32)  # alpha: 2 x rank
    assert config["data"]["cutoff_len"] == 2048
    assert config["output"]["plot"] is False
    training = config["training"]
    assert training["learning_rate"] == 5e-5  # transformers' default, not plugtune's 1e-4
    assert training["logging_steps"] == 500
    assert training["gradient_checkpointing"] is True
    assert "resume_from_checkpoint" not in training
    off = convert(tmp_path, disable_gradient_checkpointing=True, lora_alpha=8)
    assert off["training"]["gradient_checkpointing"] is False
    assert off["peft"]["alpha"] == 8


def test_without_overwrite_output_dir_a_run_resumes_as_in_llamafactory(tmp_path):
    config = convert(tmp_path, overwrite_output_dir=False)
    assert config["training"]["resume_from_checkpoint"] == "auto"
    given = convert(tmp_path, resume_from_checkpoint="saves/run/checkpoint-10")
    assert given["training"]["resume_from_checkpoint"] == "saves/run/checkpoint-10"


def test_methods_map_to_peft_and_quantization(tmp_path):
    qlora = convert(tmp_path, quantization_bit=4, quantization_type="fp4",
                    lora_target="q_proj, v_proj", additional_target="embed_tokens")
    assert qlora["peft"]["type"] == "qlora"
    assert qlora["peft"]["target"] == ["q_proj", "v_proj"]
    assert qlora["peft"]["modules_to_save"] == ["embed_tokens"]
    assert qlora["quantization"] == {"bits": 4, "quant_type": "fp4"}
    assert convert(tmp_path, use_dora=True)["peft"]["type"] == "dora"
    freeze = convert(tmp_path, finetuning_type="freeze", freeze_trainable_layers=-3,
                     freeze_trainable_modules="mlp,self_attn")
    assert freeze["peft"] == {"type": "freeze", "trainable_layers": -3,
                              "trainable_modules": ["mlp", "self_attn"]}
    assert convert(tmp_path, finetuning_type="full")["peft"] == {"type": "full"}
    assert "quantization_bit" in refused(tmp_path, finetuning_type="full", quantization_bit=4)
    oft = refused(tmp_path, finetuning_type="oft", lora_rank=4)
    assert "finetuning_type: plugtune has no OFT" in oft and "lora_rank" not in oft
    assert "quantization_method" in refused(tmp_path, quantization_bit=4,
                                            quantization_method="gptq")


def test_vision_language_keys(tmp_path):
    tower = convert(tmp_path, freeze_vision_tower=False, freeze_multi_modal_projector=True)
    assert tower["peft"]["freeze_vision_tower"] is False
    assert tower["peft"]["freeze_multi_modal_projector"] is True
    projector = convert(tmp_path, finetuning_type="full", train_mm_proj_only=True)
    assert projector["peft"] == {"type": "full", "train_mm_proj_only": True}
    assert "train_mm_proj_only: only with finetuning_type full" in refused(
        tmp_path, train_mm_proj_only=True)
    pixels = convert(tmp_path, image_max_pixels=262144)["data"]
    assert (pixels["image_max_pixels"], pixels["image_min_pixels"]) == (262144, 32 * 32)
    assert "image_max_pixels" not in convert(tmp_path)["data"]  # a text model's config
    vlm = convert(tmp_path, template="qwen2_vl")  # LLaMA-Factory's defaults, stated
    assert (vlm["template"], vlm["data"]["image_max_pixels"]) == ("qwen2", 768 * 768)
    assert convert(tmp_path, template="qwen3_vl_nothink")["template"] == "chatml"
    assert convert(tmp_path, template="llama4")["template"]["name"] == "hf"
    inference = convert_llamafactory({"model_name_or_path": "tiny://qwen2-vl",
                                      "template": "qwen2_vl", "image_max_pixels": 262144,
                                      "infer_backend": "huggingface"}, source="lf.yaml")
    assert "data" not in inference.config  # the backends size images by the processor
    assert any(note.startswith("image_max_pixels: plugtune applies it to training images")
               for note in inference.notes)
    notes = convert_llamafactory({**BASE, "video_fps": 2.0, "video_maxlen": 64},
                                 source="lf.yaml").notes
    assert any(note.startswith("video_fps: sizes video inputs only") for note in notes)
    assert "freeze_language_model: plugtune always trains" in refused(
        tmp_path, freeze_language_model=True)
    assert "template: 'moss_vl' is LLaMA-Factory's template for a vision-language model" in (
        refused(tmp_path, template="moss_vl"))
    assert "use_audio_in_video: a vision-language setting" in refused(
        tmp_path, use_audio_in_video=True)


def test_data_keys(tmp_path):
    config = convert(tmp_path, dataset="a, b", eval_dataset="c", dataset_dir="mydata",
                     mask_history=True, neat_packing=True, seed=7, val_size=0.0)
    data = config["data"]
    assert (data["train"], data["eval"], data["dataset_dir"]) == (["a", "b"], ["c"], "mydata")
    assert (data["train_on"], data["packing"], data["seed"]) == ("last", True, 7)
    assert config["training"]["seed"] == 7
    assert "train_on_prompt" in refused(tmp_path, train_on_prompt=True)
    assert "val_size" in refused(tmp_path, val_size=100)
    assert "mix_strategy" in refused(tmp_path, mix_strategy="interleave_under")
    assert "dataset_dir" in refused(tmp_path, dataset_dir="ONLINE")
    remote = convert(tmp_path, dataset_dir="REMOTE:llamafactory/demo_data")["data"]
    assert remote["dataset_dir"] == "hf://llamafactory/demo_data"


def test_tokenized_path_is_a_prepared_folder(tmp_path):
    assert convert(tmp_path, tokenized_path="saves/tok")["data"]["prepared"] == "saves/tok"
    assert "prepared" not in convert(tmp_path, tokenized_path=None)["data"]
    converted = convert_llamafactory({**BASE, "tokenized_path": "saves/tok"},
                                     source=str(tmp_path / "lf.yaml"))
    assert any(note.startswith("tokenized_path: where LLaMA-Factory reads a folder ignoring")
               for note in converted.notes)


def test_templates_and_thinking(tmp_path):
    qwen3 = convert(tmp_path, template="qwen3", enable_thinking=False)
    assert qwen3["template"] == {"name": "qwen3", "enable_thinking": False}
    assert convert(tmp_path, template="phi")["template"] == "phi3"
    # every other template name: tests/test_llamafactory_templates.py


def test_unknown_keys_are_errors_with_a_suggestion(tmp_path):
    message = refused(tmp_path, lora_rnak=16, learning_rat=1e-5)
    assert "lora_rnak: not a LLaMA-Factory or transformers setting (did you mean 'lora_rank'?)" \
        in message
    assert "(did you mean 'learning_rate'?)" in message


def test_keys_plugtune_cannot_honour_are_refused_unless_at_their_default(tmp_path):
    assert "use_galore: " in refused(tmp_path, use_galore=True)
    assert "cache_dir: " in refused(tmp_path, cache_dir="/tmp/hf")
    path = tmp_path / "lf.yaml"
    converted = convert_llamafactory({**BASE, "use_galore": False}, source=str(path))
    assert any(note.startswith("use_galore: False is LLaMA-Factory's default")
               for note in converted.notes)
    assert "do_predict" in refused(tmp_path, do_train=False, do_predict=True)
    assert "do_eval" in refused(tmp_path, do_train=False, do_eval=True)


def test_preference_options(tmp_path):
    orpo = convert(tmp_path, stage="dpo", pref_loss="orpo", pref_beta=0.2)
    assert orpo["trainer"] == {"name": "orpo", "beta": 0.2}
    assert "pref_loss" in refused(tmp_path, stage="dpo", pref_loss="kto_pair")
    assert "reward_model" in refused(tmp_path, stage="ppo")


def test_training_arguments_pass_through_by_name(tmp_path):
    config = convert(tmp_path, warmup_steps=20, save_total_limit=2, weight_decay=0.01,
                     evaluation_strategy="steps", eval_steps=50, enable_liger_kernel=True,
                     disable_shuffling=True, early_stopping_steps=3)
    training = config["training"]
    assert (training["warmup_steps"], training["save_total_limit"]) == (20, 2)
    assert (training["eval_strategy"], training["eval_steps"]) == ("steps", 50)
    assert training["use_liger_kernel"] is True
    assert training["train_sampling_strategy"] == "sequential"
    assert config["callbacks"] == [{"name": "early_stopping", "patience": 3}]
    assert "warmup_ratio" in refused(tmp_path, warmup_ratio=1.5)


def test_deepspeed_paths_resolve_beside_the_config_only_if_there(tmp_path):
    (tmp_path / "ds_z2.json").write_text("{}")
    beside = convert(tmp_path, deepspeed="ds_z2.json")
    assert beside["training"]["deepspeed"] == str(tmp_path / "ds_z2.json")
    elsewhere = convert(tmp_path, deepspeed="examples/deepspeed/ds_z3_config.json")
    assert elsewhere["training"]["deepspeed"] == "examples/deepspeed/ds_z3_config.json"


def test_vllm_inference(tmp_path):
    path = tmp_path / "infer.yaml"
    path.write_text(yaml.safe_dump({
        "model_name_or_path": "tiny://qwen2", "template": "qwen", "infer_backend": "vllm",
        "vllm_gpu_util": 0.5, "do_sample": False, "infer_dtype": "bfloat16",
    }))
    config = load_config(path)
    assert config.backend.name == "vllm"
    assert config.backend.options == {"gpu_memory_utilization": 0.5}
    assert (config.generation.temperature, config.model.dtype) == (0.0, "bfloat16")
    path.write_text(yaml.safe_dump({"model_name_or_path": "m", "infer_backend": "sglang"}))
    with pytest.raises(ConfigError, match="infer_backend"):
        load_config(path)


@needs_fixtures
def test_detection_and_overrides(tmp_path):
    assert is_llamafactory_config({"model_name_or_path": "m", "template": "qwen"})
    assert is_llamafactory_config({"stage": "sft"})
    assert not is_llamafactory_config({"model": {"path": "m"}, "template": "qwen"})
    assert not is_llamafactory_config({"model_name_or_path": "m", "training": {}})
    path = FIXTURES / OLD / "train_lora/llama3_lora_sft.yaml"
    config = load_config(path, ["training.learning_rate=2e-5", "peft.r=4"])
    assert (config.training.learning_rate, config.peft.r) == (2e-5, 4)


@needs_fixtures
@pytest.mark.parametrize(
    "name", [f"{NEW}/train_lora/qwen3_lora_dpo.yaml", f"{OLD}/inference/llama3_lora_sft.yaml"]
)
def test_config_convert_prints_yaml_that_reads_back_equal(tmp_path, name):
    result = CliRunner().invoke(cli, ["config", "convert", str(FIXTURES / name)],
                                obj=CliState(), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("# plugtune config converted from")
    if "dpo" in name:
        assert "# note: preprocessing_num_workers: " in result.output
    converted = tmp_path / "plugtune.yaml"
    converted.write_text(result.output)
    assert load_config(converted) == load_config(FIXTURES / name)


@needs_fixtures
def test_config_convert_errors(tmp_path):
    plugtune_config = tmp_path / "run.yaml"
    plugtune_config.write_text(yaml.safe_dump({"model": {"path": "tiny://qwen2"}}))
    result = CliRunner().invoke(cli, ["config", "convert", str(plugtune_config)], obj=CliState())
    assert result.exit_code == 1 and "no config reader claims it" in result.output
    assert "known: llamafactory" in result.output
    moss = FIXTURES / NEW / "train_lora/mossvl_lora_sft.yaml"
    result = CliRunner().invoke(cli, ["config", "convert", str(moss)], obj=CliState())
    assert result.exit_code == 1
    assert "template: 'moss_vl' is LLaMA-Factory's template for a vision-language" in (
        result.output)


@pytest.mark.slow
def test_the_converter_imports_no_heavy_library():
    code = (
        "import sys, plugtune.core.config\n"
        "import plugtune.plugins.config_readers.llamafactory.conversion\n"
        "assert not {'torch', 'transformers'} & set(sys.modules), sorted(sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_training_arguments_are_read_from_the_source_as_transformers_defines_them():
    """The converter reads TrainingArguments' fields from transformers' source (importing
    the class costs seconds): the same names as the dataclass, and the same defaults
    wherever the source states a literal one, which every field plugtune states has."""
    import dataclasses

    from transformers import TrainingArguments

    from plugtune.core.config import TrainingConfig

    read = training_argument_fields()
    live = {
        field.name: field.default if field.default is not dataclasses.MISSING
        else None if field.default_factory is dataclasses.MISSING else field.default_factory()
        for field in dataclasses.fields(TrainingArguments) if field.init
    }
    assert list(read) == list(live)
    computed = {name for name, default in read.items() if default != live[name]}
    assert all(read[name] is None for name in computed)
    assert not computed & set(TrainingConfig.model_fields)


def test_flash_attn_names_the_attention_implementation(tmp_path):
    assert "attention" not in convert(tmp_path, flash_attn="auto")["model"]
    for value, attention in (("disabled", "eager"), ("sdpa", "sdpa"),
                             ("fa2", "flash_attention_2"), ("fa3", "flash_attention_3")):
        assert convert(tmp_path, flash_attn=value)["model"]["attention"] == attention
    assert "unknown value 'fa4'" in refused(tmp_path, flash_attn="fa4")
