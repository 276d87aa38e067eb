"""``plugtune export``: a deployable form of a run, in a format the ``exporters`` registry
knows (merged safetensors, GGUF, or a plugin's). The flags below are the built-in
formats' options; ``--option KEY=VALUE`` passes any format's own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from plugtune.sdk.cli import load_run, set_option


@click.command("export")
@click.argument("path", metavar="CONFIG", type=click.Path(exists=True, dir_okay=False,
                                                            path_type=Path))
@set_option
@click.option("--format", "format_name", default="safetensors", show_default=True,
              metavar="NAME", help="An exporters plugin: safetensors, gguf, …")
@click.option("--adapter", metavar="DIR",
              help="Adapter to merge [default: model.adapter, else output.dir if it holds one].")
@click.option("--to", "to", metavar="DIR", type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write [default: <output.dir>/merged, or /gguf].")
@click.option("--max-shard-size", metavar="SIZE",
              help="safetensors: largest shard, e.g. 500MB or 5GB [default: 2GB].")
@click.option("--quantize", type=click.Choice(["4", "8"]),
              help="safetensors: save quantized with bitsandbytes (the config's "
                   "quantization section sets the rest).")
@click.option("--quant", metavar="TYPE",
              help="gguf: f32, f16, bf16, q8_0, or q4_k_m, q4_0, … [default: f16].")
@click.option("--lora-gguf", is_flag=True, help="gguf: the adapter alone, as a GGUF LoRA.")
@click.option("--ollama", is_flag=True, help="gguf: also write an Ollama Modelfile.")
@click.option("--keep-tokenizer-template", is_flag=True,
              help="Export even if the tokenizer's chat template differs from the run's.")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE",
              help="A format's own option (YAML value); repeatable.")
@click.pass_context
def export(ctx: click.Context, path: Path, overrides: tuple[str, ...], format_name: str,
           adapter: str | None, to: Path | None, max_shard_size: str | None,
           quantize: str | None, quant: str | None, lora_gguf: bool, ollama: bool,
           keep_tokenizer_template: bool, options: tuple[str, ...]) -> None:
    """Export the run in CONFIG for serving: by default its LoRA adapter merged into the
    base model as safetensors, with the tokenizer carrying the run's chat template and a
    generation config that stops at the end of the model's turn; --format gguf writes a
    llama.cpp file (and --ollama a Modelfile) with the same template and stop token."""
    from plugtune.folder_lock import hold_folder

    run_config, session = load_run(ctx, path, overrides)
    given = {"max_shard_size": max_shard_size, "quantize": int(quantize) if quantize else None,
             "quant": quant, "lora": lora_gguf or None, "ollama": ollama or None,
             "keep_tokenizer_template": keep_tokenizer_template or None}
    chosen = {key: value for key, value in given.items() if value is not None}
    exporter = session.build("exporters", {"name": format_name, **chosen,
                                           **_key_values(options)})
    # The default folder is inside output.dir: a live run's export is refused.
    with hold_folder(to or run_config.output.dir):
        target = exporter.export(run_config, session, adapter=adapter, to=to)
    click.echo(f"exported to {target}")


def _key_values(pairs: tuple[str, ...]) -> dict[str, Any]:
    import yaml  # here, not at the top: every command's start-up imports this module

    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r}: expected KEY=VALUE", param_hint="--option")
        values[key.strip()] = yaml.safe_load(value)
    return values
