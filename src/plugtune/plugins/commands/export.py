"""``plugtune export``: a standalone model from a run's LoRA adapter (thin over
:func:`plugtune.training.export.export_model`, imported only when the command runs)."""

from __future__ import annotations

from pathlib import Path

import click

from plugtune.sdk.cli import load_run, set_option


@click.command("export")
@click.argument("path", metavar="CONFIG", type=click.Path(exists=True, dir_okay=False,
                                                            path_type=Path))
@set_option
@click.option("--adapter", metavar="DIR",
              help="Adapter to merge [default: model.adapter, else output.dir if it holds one].")
@click.option("--to", "to", metavar="DIR", type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write [default: <output.dir>/merged].")
@click.option("--max-shard-size", default="2GB", show_default=True, metavar="SIZE",
              help="Largest safetensors shard, e.g. 500MB or 5GB.")
@click.option("--quantize", type=click.Choice(["4", "8"]),
              help="Save quantized with bitsandbytes (the config's quantization section "
                   "sets the rest).")
@click.option("--keep-tokenizer-template", is_flag=True,
              help="Export even if the tokenizer's chat template differs from the run's.")
@click.pass_context
def export(ctx: click.Context, path: Path, overrides: tuple[str, ...], adapter: str | None,
           to: Path | None, max_shard_size: str, quantize: str | None,
           keep_tokenizer_template: bool) -> None:
    """Merge the LoRA adapter of the run in CONFIG into its base model and save it:
    safetensors shards, the tokenizer with the run's chat template, and a generation
    config that stops at the end of the model's turn."""
    from plugtune.training.export import export_model

    run_config, session = load_run(ctx, path, overrides)
    target = export_model(
        run_config,
        session,
        adapter=adapter,
        to=to,
        max_shard_size=max_shard_size,
        quantize=int(quantize) if quantize else None,
        keep_tokenizer_template=keep_tokenizer_template,
    )
    click.echo(f"exported to {target}")
