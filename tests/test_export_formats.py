"""Export formats are plugins (``exporters``): the CLI passes a format its options and
refuses what it does not take; llama.cpp's converter is found, or its absence says how to
install it; the install unpacks only the converter from the sdist."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from click.testing import CliRunner

from plugtune import Session
from plugtune.cli import cli
from plugtune.core.config import RunConfig
from plugtune.core.errors import ConfigError
from plugtune.core.hookspecs import hookimpl
from plugtune.core.interfaces import Exporter
from plugtune.deploy import llamacpp_source
from plugtune.deploy.llamacpp_source import ENV, ConverterMissing, converter_dir
from plugtune.deploy.quantize import check_quant
from plugtune.sdk.cli import CliState


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, ["export", *args], obj=CliState())


@pytest.fixture
def run_yaml(tmp_path: Path) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"model": {"path": "tiny://qwen2"},
                                    "output": {"dir": str(tmp_path / "run")}}))
    return path


def test_the_built_in_formats_are_exporters() -> None:
    registry = Session().registry("exporters")
    assert registry.names() == ["gguf", "safetensors"]
    for component in registry:
        assert isinstance(component.build({}), Exporter)


@pytest.mark.parametrize(("args", "message"), [
    (("--format", "onnx"), "no exporter named 'onnx'; known: gguf, safetensors"),
    (("--quant", "q8_0"), "exporters 'safetensors': invalid configuration\n  quant: unknown "
                          "key (did you mean 'quantize'?)"),
    (("--format", "gguf", "--quantize", "4"), "exporters 'gguf': invalid configuration\n  "
                                              "quantize: unknown key (did you mean 'quant'?)"),
    (("--option", "nokey"), "'nokey': expected KEY=VALUE"),
])
def test_a_format_refuses_what_it_does_not_take(run_yaml: Path, args: tuple[str, ...],
                                                message: str) -> None:
    result = invoke(str(run_yaml), *args)
    assert result.exit_code != 0
    assert message in result.output
    assert not (run_yaml.parent / "run").exists()


class Recorded:
    """A third-party format: records what it was asked, writes one file."""

    calls: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, bits: int = 16, group: str = "none") -> None:
        self.options = {"bits": bits, "group": group}

    def export(self, config: RunConfig, session: Session, *, adapter: str | None,
               to: Path | None) -> Path:
        Recorded.calls.append({**self.options, "adapter": adapter, "to": to})
        assert to is not None
        to.mkdir(parents=True)
        (to / "model.bin").write_bytes(b"")
        return to


class RecordedPlugin:
    @hookimpl
    def register_exporters(self, register: Any) -> None:
        from pydantic import BaseModel

        class Options(BaseModel):
            bits: int = 16
            group: str = "none"

        register("recorded", Recorded, options=Options)


def test_a_plugin_format_takes_its_options_through_option(
        run_yaml: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plugins = tmp_path / "formats.py"
    plugins.write_text("from tests.test_export_formats import RecordedPlugin\n"
                       "plugin = RecordedPlugin()\n")
    config = yaml.safe_load(run_yaml.read_text())
    run_yaml.write_text(yaml.safe_dump({**config, "plugins": {"paths": [f"{plugins}:plugin"]}}))
    Recorded.calls.clear()
    result = invoke(str(run_yaml), "--format", "recorded", "--option", "bits=4",
                    "--option", "group=g128", "--adapter", str(tmp_path), "--to",
                    str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert Recorded.calls == [{"bits": 4, "group": "g128", "adapter": str(tmp_path),
                               "to": tmp_path / "out"}]
    assert result.stdout.strip() == f"exported to {tmp_path / 'out'}"


def test_an_unknown_quant_is_refused_with_the_list() -> None:
    with pytest.raises(ConfigError, match="'Q9_K': expected one of f32, f16, bf16, q8_0"):
        check_quant("Q9_K")
    assert check_quant("Q8_0") == "q8_0"


def test_a_missing_converter_says_how_to_install_it(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, str(tmp_path))
    with pytest.raises(ConverterMissing) as error:
        converter_dir()
    message = str(error.value)
    assert f"${ENV}={tmp_path} lacks convert_hf_to_gguf.py, convert_lora_to_gguf.py, gguf-py"\
        in message
    assert "make gguf-converter" in message


def sdist(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_install_unpacks_only_the_converter(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    root = "llama_cpp_python-0.3.36/vendor/llama.cpp/"
    members = {f"{root}{name}": b"x" for name in
               ("convert_hf_to_gguf.py", "convert_lora_to_gguf.py", "conversion/base.py",
                "gguf-py/gguf/__init__.py", "LICENSE", "src/llama.cpp", "ggml/big.c")}
    members["llama_cpp_python-0.3.36/setup.py"] = b"x"

    def download(command: list[str], check: bool) -> None:
        assert f"llama-cpp-python=={llamacpp_source.LLAMA_CPP_PYTHON}" in command
        dest = Path(command[command.index("--dest") + 1])
        dest.mkdir(parents=True)
        sdist(dest / "llama_cpp_python-0.3.36.tar.gz", members)

    monkeypatch.setattr(llamacpp_source.subprocess, "run", download)
    target = llamacpp_source.install(tmp_path / "llama.cpp")
    unpacked = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    assert unpacked == ["LICENSE", "conversion/base.py", "convert_hf_to_gguf.py",
                        "convert_lora_to_gguf.py", "gguf-py/gguf/__init__.py"]
    assert [p.name for p in tmp_path.iterdir()] == ["llama.cpp"]  # no staging left
    monkeypatch.setenv(ENV, str(target))
    assert converter_dir() == target


def test_the_pinned_runtime_matches_the_converter() -> None:
    pyproject = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    assert f'llamacpp = ["llama-cpp-python=={llamacpp_source.LLAMA_CPP_PYTHON}"]' in pyproject
