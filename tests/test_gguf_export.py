"""``plugtune export --format gguf``: llama.cpp's converter writes the merged run as GGUF;
transformers reads it back (weights within the type's rounding, the same greedy answers at
f32/f16), the header carries the run's chat template, end-of-turn token and provenance;
a GGUF LoRA carries the adapter alone; bad requests fail before any work, leaving nothing.

The converter is installed by ``make gguf-converter`` (``make test`` does it); without it
these tests skip here and fail on CI.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from click.testing import CliRunner

from plugtune import Session
from plugtune.cli import cli
from plugtune.core.config import RunConfig
from plugtune.core.errors import ConfigError, PlugtuneError
from plugtune.deploy.export import export_model
from plugtune.deploy.gguf import convert_model
from plugtune.deploy.gguf_export import GGUFRequest, export_gguf
from plugtune.models.sources import resolve_model_path
from plugtune.sdk.cli import CliState
from tests.adapters import random_lora
from tests.conftest import needs_gguf_converter

pytestmark = needs_gguf_converter
ARCHITECTURES = ("qwen2", "llama")
NEW_TOKENS = 12
PROMPT = [{"role": "system", "content": "Be brief."},
          {"role": "user", "content": "Say something nice, 请。"}]


def gguf_fields(path: Path) -> dict[str, Any]:
    from gguf import GGUFReader

    fields = GGUFReader(path).fields
    vocabulary = ("tokenizer.ggml.tokens", "tokenizer.ggml.merges", "tokenizer.ggml.token_type")
    return {key: field.contents() for key, field in fields.items() if key not in vocabulary}


def load_gguf(path: Path) -> Any:
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name)


def greedy(model: Any, tokenizer: Any) -> list[int]:
    ids = tokenizer.apply_chat_template(PROMPT, add_generation_prompt=True,
                                        return_tensors="pt", return_dict=True)["input_ids"]
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS,
                             do_sample=False, pad_token_id=0)
    return out[0, ids.shape[1]:].tolist()


class Run:
    """A tiny model with a random LoRA in ``output.dir``, merged once for reference."""

    def __init__(self, arch: str, root: Path) -> None:
        self.arch = arch
        self.root = root
        self.run_dir = random_lora(f"tiny://{arch}", root / "run")
        self.config = RunConfig.model_validate(
            {"model": {"path": f"tiny://{arch}"}, "output": {"dir": str(self.run_dir)}})
        self.merged = export_model(self.config, Session(), to=root / "merged")
        self.exports: dict[GGUFRequest, Path] = {}

    def export(self, quant: str, **options: Any) -> Path:
        """The folder of one export, written on first use."""
        request = GGUFRequest(quant=quant, **options)
        if request not in self.exports:
            target = self.root / f"gguf-{len(self.exports)}"
            self.exports[request] = export_gguf(self.config, Session(), request, to=target)
        return self.exports[request]


@pytest.fixture(scope="module", params=ARCHITECTURES)
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Run:
    return Run(request.param, tmp_path_factory.mktemp(request.param))


@pytest.fixture(scope="module")
def merged_model(run: Run) -> Any:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return (AutoModelForCausalLM.from_pretrained(run.merged),
            AutoTokenizer.from_pretrained(run.merged))


@pytest.mark.parametrize(("quant", "tolerance"), [("f32", 1e-6), ("f16", 1e-3), ("q8_0", None)])
@pytest.mark.slow
def test_gguf_reads_back_with_the_merged_weights(run: Run, merged_model: Any, quant: str,
                                                 tolerance: float | None) -> None:
    folder = run.export(quant)
    (path,) = folder.glob("*.gguf")
    assert path.name == f"model-{quant}.gguf"
    model, tokenizer = merged_model
    loaded = load_gguf(path)
    expected = model.state_dict()
    weights = loaded.state_dict()
    assert set(weights) == set(expected)
    for name, tensor in expected.items():
        # q8_0 rounds each block of 32 to 1/127 of its largest magnitude
        bound = tolerance if tolerance is not None else tensor.abs().max().item() / 127
        difference = (weights[name].float() - tensor.float()).abs().max().item()
        assert difference <= bound, (name, difference, bound)
    if quant != "q8_0":
        assert greedy(loaded, tokenizer) == greedy(model, tokenizer)


@pytest.mark.slow
def test_the_header_carries_the_runs_template_stop_token_and_provenance(
        run: Run, merged_model: Any) -> None:
    folder = run.export("f16")
    fields = gguf_fields(folder / "model-f16.gguf")
    _, tokenizer = merged_model
    record = json.loads((folder / "export.json").read_text())
    template = {"qwen2": ("qwen2", "<|im_end|>", "qwen2"),
                "llama": ("llama3", "<|eot_id|>", "llama-bpe")}[run.arch]
    assert fields["tokenizer.chat_template"] == tokenizer.chat_template
    assert fields["tokenizer.ggml.eot_token_id"] == tokenizer.convert_tokens_to_ids(template[1])
    assert fields["tokenizer.ggml.pre"] == template[2]  # the regex's name in llama.cpp
    assert fields["plugtune.template"] == record["template"] == template[0]
    assert fields["plugtune.adapter"] == record["adapter"] == str(run.run_dir)
    assert fields["plugtune.base_model"] == f"tiny://{run.arch}"
    assert fields["plugtune.quant"] == "f16"
    assert record["files"] == ["model-f16.gguf"]


@pytest.mark.slow
def test_a_gguf_lora_holds_the_adapter_alone(run: Run) -> None:
    folder = run.export("f16", lora=True)
    fields = gguf_fields(folder / "adapter-f16.gguf")
    adapter = json.loads((run.run_dir / "adapter_config.json").read_text())
    assert fields["general.type"] == "adapter"
    assert fields["adapter.type"] == "lora"
    assert fields["adapter.lora.alpha"] == adapter["lora_alpha"]
    assert fields["plugtune.adapter"] == str(run.run_dir)
    from gguf import GGUFReader

    names = [tensor.name for tensor in GGUFReader(folder / "adapter-f16.gguf").tensors]
    assert names and all(name.endswith((".lora_a", ".lora_b")) for name in names)
    assert not list(folder.glob("model-*.gguf"))


@pytest.mark.slow
def test_the_cli_writes_a_gguf_and_a_modelfile(tmp_path: Path) -> None:
    run_dir = random_lora("tiny://qwen2", tmp_path / "run")
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"model": {"path": "tiny://qwen2"},
                                      "output": {"dir": str(run_dir)}}))
    result = CliRunner().invoke(cli, ["export", str(config), "--format", "gguf", "--quant",
                                      "q8_0", "--ollama"], obj=CliState())
    assert result.exit_code == 0, result.output
    folder = run_dir / "gguf"
    assert result.stdout.strip().endswith(f"exported to {folder}")
    assert sorted(p.name for p in folder.iterdir()) == ["Modelfile", "export.json",
                                                         "model-q8_0.gguf"]
    modelfile = (folder / "Modelfile").read_text()
    assert "FROM ./model-q8_0.gguf\n" in modelfile
    assert 'PARAMETER stop "<|im_end|>"\n' in modelfile
    assert 'SYSTEM """You are a helpful assistant."""\n' in modelfile

    again = CliRunner().invoke(cli, ["export", str(config), "--format", "gguf"],
                               obj=CliState())
    assert again.exit_code == 1
    assert again.stderr.strip() == (f"Error: export: {folder} is not empty; choose another "
                                     "--to or set output.overwrite: true")
    assert sorted(p.name for p in folder.iterdir()) == ["Modelfile", "export.json",
                                                         "model-q8_0.gguf"]


@pytest.mark.parametrize(("options", "message"), [
    ({"quant": "q3_x"}, "GGUF quant 'q3_x': expected one of f32, f16, bf16, q8_0, q4_0"),
    ({"quant": "f16", "lora": True, "ollama": True}, "--ollama with --lora-gguf"),
    ({"quant": "bf16", "lora": True}, "a GGUF LoRA is f32, f16 or q8_0"),
])
@pytest.mark.slow
def test_bad_requests_fail_before_any_work(tmp_path: Path, options: dict[str, Any],
                                           message: str) -> None:
    run_dir = random_lora("tiny://qwen2", tmp_path / "run")
    config = RunConfig.model_validate({"model": {"path": "tiny://qwen2"},
                                       "output": {"dir": str(run_dir)}})
    with pytest.raises(ConfigError) as error:
        export_gguf(config, Session(), GGUFRequest(**options))
    assert message in str(error.value)
    assert not (run_dir / "gguf").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no staging folder left


def test_a_template_without_a_go_form_is_refused_for_ollama(tmp_path: Path) -> None:
    run_dir = random_lora("tiny://qwen2", tmp_path / "run")
    config = RunConfig.model_validate({"model": {"path": "tiny://qwen2"}, "template": "hf",
                                       "output": {"dir": str(run_dir)}})
    with pytest.raises(ConfigError, match="template 'hf' is not declared as slots"):
        export_gguf(config, Session(), GGUFRequest(ollama=True))
    assert list(tmp_path.iterdir()) == [run_dir]


@pytest.mark.slow
def test_an_architecture_the_converter_lacks_names_it_and_leaves_no_file(
        tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    source = Path(resolve_model_path("tiny://qwen2"))
    for name in ("tokenizer.json", "tokenizer_config.json", "model.safetensors"):
        (model / name).write_bytes((source / name).read_bytes())
    config = json.loads((source / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config,
                                                   "architectures": ["NoSuchForCausalLM"]}))
    with pytest.raises(PlugtuneError, match="NoSuchForCausalLM is not supported"):
        convert_model(model, tmp_path / "out.gguf", "f16", metadata={})
    assert not (tmp_path / "out.gguf").exists()


@pytest.mark.slow
def test_a_run_that_trained_the_whole_model_converts_without_a_merge(tmp_path: Path) -> None:
    import shutil

    from plugtune.core.config import ModelConfig
    from plugtune.models import load_causal_lm

    run_dir = tmp_path / "run"
    shutil.copytree(resolve_model_path("tiny://llama"), run_dir)
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    config = RunConfig.model_validate({"model": {"path": "tiny://llama"},
                                       "output": {"dir": str(run_dir)}})
    folder = export_gguf(config, Session(), GGUFRequest(quant="f32"))
    assert folder == run_dir / "gguf"
    fields = gguf_fields(folder / "model-f32.gguf")
    assert fields["general.architecture"] == "llama"
    assert fields["plugtune.trained_model"] == str(run_dir)
    assert "plugtune.adapter" not in fields and fields["plugtune.template"] == "llama3"
    loaded = load_gguf(folder / "model-f32.gguf").state_dict()
    for name, tensor in load_causal_lm(ModelConfig(path=str(run_dir))).state_dict().items():
        assert torch.equal(loaded[name], tensor), name
    assert {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()} == before


def test_the_header_hook_adds_its_keys_to_every_file_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """compat.llamacpp.add_header_metadata, in this process on gguf-py's writer (the
    converter's process runs it on the vendored copy of the same writer)."""
    import gguf
    import numpy as np

    from plugtune.compat.llamacpp import add_header_metadata

    # Put the writer back after the test: the hook replaces a method of the class.
    monkeypatch.setattr(gguf.GGUFWriter, "write_header_to_file",
                        gguf.GGUFWriter.write_header_to_file)
    add_header_metadata({"plugtune.template": "chatml", "plugtune.steps": 3,
                         "plugtune.merged": True})
    path = tmp_path / "hooked.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_tensor("weight", np.zeros(4, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    fields = gguf_fields(path)
    assert (fields["plugtune.template"], fields["plugtune.steps"],
            fields["plugtune.merged"]) == ("chatml", 3, True)
