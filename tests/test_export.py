"""``plugtune export``: a merged model generates what base + adapter generates, in shards,
with the run's chat template and stop tokens, optionally quantized; the CLI is thin.

The adapter is built here with peft on tiny://qwen2, its ``lora_B`` weights set to
seeded random values (peft initialises them to zero, which would make the merge a
no-op that any broken export passes).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from click.testing import CliRunner

from plugtune import Session, load_config
from plugtune.cli import cli
from plugtune.core.config import ModelConfig, RunConfig
from plugtune.core.errors import ConfigError
from plugtune.core.records import Conversation, Message
from plugtune.data.templates import resolve_template, stop_token_ids
from plugtune.data.tokenizer import load_tokenizer
from plugtune.deploy.export import export_model
from plugtune.models import load_causal_lm
from plugtune.models.sources import resolve_model_path
from plugtune.sdk.cli import CliState
from tests.adapters import random_lora

PROMPT = Conversation((Message("system", "Be brief."), Message("user", "Say something nice.")))
NEW_TOKENS = 12


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tiny://qwen2, copied, with a generation config that stops only on <|endoftext|>:
    the export has to add the template's end-of-turn token (<|im_end|>) itself."""
    target = tmp_path_factory.mktemp("base") / "qwen2"
    shutil.copytree(resolve_model_path("tiny://qwen2"), target)
    tokenizer = load_tokenizer(ModelConfig(path=str(target)))
    generation = json.loads((target / "generation_config.json").read_text())
    generation["eos_token_id"] = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    (target / "generation_config.json").write_text(json.dumps(generation))
    return target


@pytest.fixture(scope="module")
def adapter_dir(base_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return random_lora(base_dir, tmp_path_factory.mktemp("adapter"))


def run_config(base_dir: Path, output_dir: Path, **sections: Any) -> RunConfig:
    return RunConfig.model_validate(
        {"model": {"path": str(base_dir)}, "output": {"dir": str(output_dir)}, **sections}
    )


@pytest.fixture(scope="module")
def exported(base_dir: Path, adapter_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    config = run_config(base_dir, out)
    return export_model(config, Session(), adapter=adapter_dir, max_shard_size="5MB")


def prompt_ids(tokenizer: Any) -> torch.Tensor:
    text = tokenizer.apply_chat_template(
        PROMPT.to_openai(), tokenize=False, add_generation_prompt=True
    )
    return tokenizer(text, return_tensors="pt").input_ids


def greedy(model: Any, ids: torch.Tensor, count: int = NEW_TOKENS) -> list[int]:
    """Exactly ``count`` greedy tokens (no early stop, so the comparisons see them all)."""
    with torch.no_grad():
        out = model.generate(
            ids, max_new_tokens=count, min_new_tokens=count, do_sample=False, pad_token_id=0
        )
    return out[0, ids.shape[1]:].tolist()


@pytest.mark.slow
def test_merged_model_generates_what_base_plus_adapter_generates(
    exported: Path, base_dir: Path, adapter_dir: Path
) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    tokenizer = load_tokenizer(ModelConfig(path=str(base_dir)))
    ids = prompt_ids(tokenizer)
    base_tokens = greedy(load_causal_lm(ModelConfig(path=str(base_dir))), ids)
    reference = PeftModel.from_pretrained(
        load_causal_lm(ModelConfig(path=str(base_dir))), str(adapter_dir)
    ).eval()
    merged = AutoModelForCausalLM.from_pretrained(exported).eval()

    merged_tokens = greedy(merged, ids)
    assert merged_tokens == greedy(reference, ids)
    assert merged_tokens != base_tokens  # the adapter changes what the model says
    with torch.no_grad():
        torch.testing.assert_close(
            merged(ids).logits, reference(ids).logits, rtol=1e-4, atol=1e-4
        )


def test_small_shards_are_safetensors_with_an_index(exported: Path) -> None:
    shards = sorted(path.name for path in exported.glob("model-*-of-*.safetensors"))
    index = json.loads((exported / "model.safetensors.index.json").read_text())

    assert len(shards) >= 2
    assert sorted(set(index["weight_map"].values())) == shards
    assert not list(exported.glob("*.bin")) and not (exported / "model.safetensors").exists()
    record = json.loads((exported / "export.json").read_text())
    assert record["shards"] == shards and record["template"] == "qwen2"
    assert record["quantization"] is None


def test_tokenizer_keeps_the_runs_template_and_generation_stops_on_it(
    exported: Path, base_dir: Path
) -> None:
    from transformers import AutoTokenizer, GenerationConfig

    base_tokenizer = load_tokenizer(ModelConfig(path=str(base_dir)))
    template = resolve_template(Session(), None, base_tokenizer)
    tokenizer = AutoTokenizer.from_pretrained(exported)

    assert tokenizer.chat_template == base_tokenizer.chat_template
    rendered = tokenizer.apply_chat_template(
        PROMPT.to_openai(), tokenize=False, add_generation_prompt=True
    )
    assert rendered == template.render(PROMPT, add_generation_prompt=True)
    eos = GenerationConfig.from_pretrained(exported).eos_token_id
    end_of_turn = tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert end_of_turn in eos and set(stop_token_ids(template, tokenizer)) <= set(eos)


def test_a_template_the_tokenizer_does_not_render_is_refused(
    base_dir: Path, adapter_dir: Path, tmp_path: Path
) -> None:
    # glm4 writes no Jinja of its own (its logic is more than slots): the tokenizer's
    # template would have to render it, and the tiny Qwen tokenizer's does not.
    config = run_config(base_dir, tmp_path / "run", template="glm4")
    with pytest.raises(ConfigError) as info:
        export_model(config, Session(), adapter=adapter_dir)
    message = str(info.value)
    assert "'glm4'" in message and "--keep-tokenizer-template" in message
    assert "[gMASK]" in message and "<|im_start|>" in message  # where they part
    assert not (tmp_path / "run").exists()  # refused before anything was written


@pytest.mark.slow
def test_keep_tokenizer_template_exports_despite_the_mismatch(
    base_dir: Path, adapter_dir: Path, tmp_path: Path
) -> None:
    config = run_config(base_dir, tmp_path, template="glm4")
    target = export_model(config, Session(), adapter=adapter_dir, keep_tokenizer_template=True)
    record = json.loads((target / "export.json").read_text())
    assert record["template"] == "glm4" and record["tokenizer_template_matches"] is False
    assert record["chat_template"] == "tokenizer"


@pytest.mark.slow
def test_a_slot_template_exports_its_own_jinja(
    base_dir: Path, adapter_dir: Path, tmp_path: Path
) -> None:
    """A run trained with another family's template ships that template, not the base
    tokenizer's: the exported tokenizer renders exactly what training rendered."""
    from transformers import AutoTokenizer

    from plugtune.core.records import Conversation, Message
    from plugtune.sdk.templates import template_messages

    config = run_config(base_dir, tmp_path, template="llama3")
    target = export_model(config, Session(), adapter=adapter_dir)
    record = json.loads((target / "export.json").read_text())
    assert record["chat_template"] == "template" and record["tokenizer_template_matches"]
    template = Session().build("templates", "llama3")
    conversation = Conversation((Message("system", "Be brief."), Message("user", "Hi"),
                                 Message("assistant", "Hello!"), Message("user", "Bye")))
    exported = AutoTokenizer.from_pretrained(target)
    for prompt in (False, True):
        assert exported.apply_chat_template(
            template_messages(conversation), tokenize=False, add_generation_prompt=prompt
        ) == template.render(conversation, add_generation_prompt=prompt)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"max_shard_size": "2 gigs"}, "--max-shard-size '2 gigs': expected a size"),
        ({"quantize": 3}, "--quantize 3: expected 4 or 8"),
    ],
)
def test_bad_options_are_refused_before_loading(
    base_dir: Path, adapter_dir: Path, tmp_path: Path, options: dict, expected: str
) -> None:
    with pytest.raises(ConfigError, match="^" + re.escape(expected)):
        export_model(run_config(base_dir, tmp_path), Session(), adapter=adapter_dir, **options)
    assert not (tmp_path / "merged").exists()


@pytest.mark.slow
def test_quantized_export_reloads_4bit_and_generates(
    base_dir: Path, adapter_dir: Path, tmp_path: Path
) -> None:
    import bitsandbytes as bnb
    from transformers import AutoModelForCausalLM

    # The config's quantization section (what QLoRA trained with) sets the rest.
    config = run_config(base_dir, tmp_path, quantization={"quant_type": "fp4", "bits": 8})
    target = export_model(config, Session(), adapter=adapter_dir, quantize=4)

    saved = json.loads((target / "config.json").read_text())["quantization_config"]
    assert saved["load_in_4bit"] and saved["bnb_4bit_quant_type"] == "fp4"
    model = AutoModelForCausalLM.from_pretrained(target)
    quantized = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert len(quantized) == 4 * 7  # every attention and MLP projection of the 4 layers
    for module in quantized:
        # bitsandbytes 0.50.2 repacks 4-bit weights for AVX512-BF16 CPUs and asserts that
        # out_features % 32 == 0, which the tiny MLP (688) is not; GPUs are unaffected.
        module.support_avx512bf16_for_cpu = False
    tokenizer = load_tokenizer(ModelConfig(path=str(target)))
    assert len(greedy(model, prompt_ids(tokenizer), count=4)) == 4
    assert json.loads((target / "export.json").read_text())["quantization"]["bits"] == 4


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, ["export", *args], obj=CliState())


@pytest.mark.slow
def test_cli_exports_the_adapter_train_left_in_output_dir(
    base_dir: Path, adapter_dir: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(adapter_dir, run_dir)
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"model": {"path": str(base_dir)},
                                      "output": {"dir": str(run_dir)}}))

    result = invoke(str(config), "--max-shard-size", "50MB")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"exported to {run_dir / 'merged'}"
    assert json.loads((run_dir / "merged" / "export.json").read_text())["adapter"] == str(run_dir)

    again = invoke(str(config))
    assert again.exit_code == 1
    assert again.stderr.strip().splitlines() == [
        f"Error: export: {run_dir / 'merged'} is not empty; choose another --to or set "
        "output.overwrite: true"
    ]

    # What an earlier export may have left that some servers would load instead.
    names = ("pytorch_model.bin", "model.safetensors.index.json")
    stale = [run_dir / "merged" / name for name in names]
    for path in stale:
        path.write_text("left by an earlier export")
    result = invoke(str(config), "--set", "output.overwrite=true")
    assert result.exit_code == 0, result.output
    assert not any(path.exists() for path in stale)
    assert (run_dir / "merged" / "model.safetensors").is_file()


def test_cli_without_an_adapter_says_where_it_looked(base_dir: Path, tmp_path: Path) -> None:
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"model": {"path": str(base_dir)},
                                      "output": {"dir": str(tmp_path / "empty")}}))

    result = invoke(str(config))
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: export: no adapter to merge")
    assert "--adapter" in lines[0] and "model.adapter" in lines[0]
    assert str(tmp_path / "empty") in lines[0]
    bad = invoke(str(config), "--adapter", str(tmp_path))
    assert bad.exit_code == 1
    assert bad.stderr.strip() == f"Error: --adapter: {tmp_path} has no adapter_config.json; " \
        "not a PEFT adapter folder"


def test_the_adapter_a_run_trained_wins_over_the_one_it_started_from(tmp_path):
    from plugtune.deploy.export import find_adapter

    started, run = tmp_path / "started", tmp_path / "run"
    for folder in (started, run):
        folder.mkdir()
        (folder / "adapter_config.json").write_text("{}")
    config = load_config(None, [f"model.adapter={started}", f"output.dir={run}"])
    assert find_adapter(config) == str(run)
    config.output.dir = str(tmp_path / "elsewhere")
    assert find_adapter(config) == str(started)  # an inference config naming its adapter
