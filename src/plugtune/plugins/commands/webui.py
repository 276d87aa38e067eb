"""``plugtune webui``: configure, launch, watch, compare and use runs in a browser."""

from __future__ import annotations

import secrets
from pathlib import Path

import click


@click.command("webui")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (another address shares your runs with the network).")
@click.option("--port", type=click.IntRange(0, 65535), default=7860, show_default=True,
              help="Port to listen on.")
@click.option("--runs", "runs_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("runs"), show_default=True,
              help="Folder of runs: each run is a sub-folder; the page finds them all.")
@click.option("--token", envvar="PLUGTUNE_WEBUI_TOKEN", default=None, metavar="TOKEN",
              help="Require this token on every API call [env: PLUGTUNE_WEBUI_TOKEN]; "
              "'auto' makes one up and prints the URL that carries it.")
def webui(host: str, port: int, runs_dir: Path, token: str | None) -> None:
    """Open plugtune in a browser: forms built from the installed plugins, runs launched
    as their own `plugtune train` processes with live curves, runs compared, chat,
    predict and export. Needs the webui extra: pip install 'plugtune[webui]'."""
    from plugtune.core.errors import ConfigError

    try:
        from plugtune.webui.app import create_app, serve
    except ImportError as error:
        raise ConfigError(f"plugtune webui needs fastapi and uvicorn ({error}); "
                          "pip install 'plugtune[webui]'") from error
    if token == "auto":
        token = secrets.token_urlsafe(16)
    app = create_app(runs_dir, token=token)
    suffix = f"/?token={token}" if token else "/"
    click.echo(f"plugtune web UI on http://{host}:{port}{suffix} (runs in {runs_dir})",
               err=True)
    serve(app, host, port)
