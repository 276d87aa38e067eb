"""``plugtune serve``: the config's backend behind an OpenAI-compatible HTTP API."""

from __future__ import annotations

from pathlib import Path

import click

from plugtune.sdk.cli import adapter_options, load_run, set_option


@click.command("serve")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@set_option
@adapter_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port to listen on.")
@click.option("--model-name", default=None, metavar="NAME",
              help="Model id clients ask for [default: model.path].")
@click.option("--api-key", envvar="PLUGTUNE_API_KEY", default=None, metavar="KEY",
              help="Require 'Authorization: Bearer KEY' on every request "
              "[env: PLUGTUNE_API_KEY; default: no key].")
@click.option("--batch-window-ms", type=click.FloatRange(min=0), default=10.0,
              show_default=True, metavar="MS",
              help="How long a request waits for concurrent ones to batch with.")
@click.option("--max-queue", type=click.IntRange(min=1), default=256, show_default=True,
              help="Requests that may wait; past that a request gets 429 (Retry-After).")
@click.option("--lanes", type=click.IntRange(min=1), default=1, show_default=True,
              help="Batches answered at once: a long answer holds one lane while the "
              "others go on (vllm batches continuously and needs none).")
@click.option("--request-timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              metavar="S", help="Stop a request that runs longer and answer 408 "
              "[default: no limit].")
@click.option("--shutdown-grace", type=click.FloatRange(min=0), default=5.0,
              show_default=True, metavar="S",
              help="On SIGTERM/SIGINT, seconds running requests get to finish.")
@click.option("--max-body-mb", type=click.FloatRange(min=0, min_open=True), default=32.0,
              show_default=True, metavar="MB", help="Larger request bodies get 413.")
@click.option("--engine", type=click.Choice(["plugtune", "vllm"]), default="plugtune",
              show_default=True,
              help="vllm: run vLLM's own OpenAI server on the config's model instead "
              "(python from PLUGTUNE_VLLM_PYTHON, else this one); arguments after -- go "
              "to it, e.g. -- --max-model-len 4096.")
@click.argument("engine_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def serve(ctx: click.Context, path: Path, overrides: tuple[str, ...], adapter: str | None,
          base: bool, host: str, port: int,
          model_name: str | None, api_key: str | None, batch_window_ms: float,
          max_queue: int, lanes: int, request_timeout: float | None, shutdown_grace: float,
          max_body_mb: float, engine: str, engine_args: tuple[str, ...]) -> None:
    """Serve the config's backend (model, adapter, template, generation defaults) as
    an OpenAI-compatible API: /v1/models, /v1/chat/completions (tool calls,
    reasoning, streaming), /v1/completions and /health. Concurrent requests are
    batched up to the backend's batch_size; a request whose client leaves stops at
    the next step; SIGTERM finishes running requests within --shutdown-grace. With a
    `retriever` in the config, each request's last user message gets its passages.
    With an `agent` section, a chat request that brings no tools is answered with the
    run's tools: the server runs the model's calls and answers with its final reply.
    Needs the serve extra: pip install 'plugtune[serve]'."""
    from plugtune.core.errors import ConfigError
    from plugtune.models.adapters import describe_model, with_run_adapter

    if engine == "vllm":
        from plugtune.inference.vllm_server import VLLMServer, serve_in_foreground

        run_config, _ = load_run(ctx, path, overrides)
        run_config = with_run_adapter(run_config, adapter, base=base)
        server = VLLMServer.from_config(run_config, model_name, host=host,
                                        port=port, api_key=api_key or None,
                                        extra_args=engine_args)
        ctx.exit(serve_in_foreground(server))
    if engine_args:
        raise ConfigError(f"plugtune serve: unexpected arguments {' '.join(engine_args)!r} "
                          "(arguments after -- are for --engine vllm)")
    try:
        from plugtune.inference.server import create_app
        from plugtune.inference.server import serve as run_server
    except ImportError as error:
        raise ConfigError(
            f"plugtune serve needs fastapi and uvicorn ({error}); "
            "pip install 'plugtune[serve]'"
        ) from error
    from plugtune.agents.playing import backend_episodes
    from plugtune.inference import load_backend

    run_config, session = load_run(ctx, path, overrides)
    run_config = with_run_adapter(run_config, adapter, base=base)
    augment = None
    if run_config.retriever is not None:  # RAG: passages for each request's question
        from plugtune.rag.context import load_injector

        augment = load_injector(run_config, session)
    backend = load_backend(run_config, session)
    episodes = backend_episodes(run_config, session, backend)
    name = model_name or run_config.model.path
    app = create_app(backend, name, run_config.generation, api_key=api_key or None,
                     batch_window_s=batch_window_ms / 1000, augment=augment,
                     max_queue=max_queue, max_body_bytes=int(max_body_mb * 1024 * 1024),
                     request_timeout_s=request_timeout, lanes=lanes, episodes=episodes)
    click.echo(f"serving {name} ({describe_model(run_config)}) on http://{host}:{port}/v1"
               + (" (API key required)" if api_key else "")
               + (f"; requests without tools get the run's: {episodes.describe()}"
                  if episodes else ""), err=True)
    run_server(app, host=host, port=port, shutdown_grace_s=shutdown_grace)
