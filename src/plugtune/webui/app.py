"""The FastAPI app: one static page and the JSON API it calls.

Every handler is a thin call into a module of this package (forms, runs, tasks, chat,
compare), so the behaviour is tested without a browser and the page holds no logic the
server does not check again. With a token, every ``/api`` request must carry it
(``Authorization: Bearer …``); the page itself holds no data and is served to anyone.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from plugtune.core.errors import PlugtuneError
from plugtune.core.session import Session
from plugtune.webui.chat import ChatModels
from plugtune.webui.routes import router
from plugtune.webui.runs import RunConflict, RunStore

STATIC = resources.files("plugtune.webui") / "static"


def create_app(runs_dir: Path, *, token: str | None = None,
               session: Session | None = None) -> FastAPI:
    """The web UI over the runs in ``runs_dir`` (created if missing). ``session``: the
    plugins whose components the forms list (default: the installed ones)."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    app = FastAPI(title="plugtune web UI", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.store = RunStore(runs_dir.resolve())
    app.state.session = session or Session()
    app.state.chat = ChatModels(app.state.store, app.state.session)
    app.state.form = None  # built on first use: listing options imports the plugins

    app.middleware("http")(_token_check(token))
    app.exception_handler(RunConflict)(_error(409))
    # Any other plugtune error is about the request (a config, a format, a missing
    # tool): the client's to fix, so a 4xx with the message, never a 500.
    app.exception_handler(PlugtuneError)(_error(422))
    app.include_router(router, prefix="/api")
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(str(STATIC / "index.html"))

    return app


def _token_check(token: str | None) -> Callable[..., Awaitable[Response]]:
    async def check(request: Request, call_next: Callable[[Request], Awaitable[Response]]
                    ) -> Response:
        if token and request.url.path.startswith("/api"):
            given = request.headers.get("authorization", "").removeprefix("Bearer ")
            if not hmac.compare_digest(given.encode(), token.encode()):
                return JSONResponse({"detail": "a token is required (open the URL that "
                                     "plugtune webui printed)"}, status_code=401)
        return await call_next(request)

    return check


def _error(status: int) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def handle(request: Request, error: Exception) -> JSONResponse:
        body: dict[str, Any] = {"detail": str(error)}
        return JSONResponse(body, status_code=status)

    return handle


def serve(app: FastAPI, host: str, port: int) -> None:
    """Run the app with uvicorn until Ctrl-C (runs it started keep going: they are
    processes of their own, found again by the next server)."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="warning")
