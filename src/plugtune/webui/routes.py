"""The JSON API under ``/api``: configure, runs, logs, compare, chat, predict, export."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import BaseModel, Field

from plugtune.core.errors import ConfigError
from plugtune.webui import exports, tasks
from plugtune.webui.compare import config_diff
from plugtune.webui.forms import check_config, form_spec, read_yaml
from plugtune.webui.preview import data_preview
from plugtune.webui.runs import TRAIN_LOG, RunStore
from plugtune.webui.tailing import read_from

router = APIRouter()
SOURCES_HEADER = "X-Plugtune-Sources"


class Launch(BaseModel):
    name: str
    config: dict[str, Any]
    processes: int = Field(1, ge=1, le=64)


class ChatTurn(BaseModel):
    message: str = Field(min_length=1)
    history: list[tuple[str, str]] = Field(default_factory=list)
    system: str = ""
    max_new_tokens: int | None = Field(None, ge=1, le=4096)  # None: the run's generation
    rag: bool = False


class PredictRequest(BaseModel):
    split: str = "test"
    limit: int | None = Field(None, ge=1)


class ExportRequest(BaseModel):
    format: str | None = None  # None: what plugtune export writes when told none
    options: dict[str, Any] = Field(default_factory=dict)


def _store(request: Request) -> RunStore:
    return request.app.state.store


@router.get("/form")
async def form(request: Request) -> dict[str, Any]:
    state = request.app.state
    if state.form is None:
        state.form = await run_in_threadpool(form_spec, state.session)
    return state.form


@router.post("/check")
def check(request: Request, config: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    return check_config(config, request.app.state.session)


@router.post("/yaml")
async def load_yaml(request: Request) -> dict[str, Any]:
    """A YAML file's text (the request body) as the form's values."""
    text = (await request.body()).decode("utf-8", errors="replace")
    return {"config": await run_in_threadpool(read_yaml, text, request.app.state.session)}


@router.post("/preview")
def preview(request: Request, config: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    return data_preview(config, request.app.state.session)


@router.get("/runs")
def runs(request: Request) -> list[dict[str, Any]]:
    store = _store(request)
    return [store.summary(name) for name in store.names()]


@router.post("/runs")
def launch(request: Request, body: Launch) -> dict[str, Any]:
    checked = check_config(body.config, request.app.state.session)
    if not checked["ok"]:
        return checked
    _store(request).launch(body.name, body.config, processes=body.processes)
    return {**checked, "name": body.name}


@router.get("/runs/{name}")
def run(request: Request, name: str) -> dict[str, Any]:
    return _store(request).summary(name)


@router.get("/runs/{name}/log")
def log(request: Request, name: str, offset: int = 0) -> dict[str, Any]:
    """The log entries after byte ``offset`` and the next offset: the page asks again
    with it, so each refresh reads only what was appended."""
    tail = read_from(_store(request).folder(name) / TRAIN_LOG, max(offset, 0))
    return {"entries": tail.entries, "offset": tail.offset}


@router.post("/runs/{name}/stop")
def stop(request: Request, name: str) -> dict[str, bool]:
    return {"stopped": _store(request).stop(name)}


@router.post("/runs/{name}/resume")
def resume(request: Request, name: str, processes: int = 1) -> dict[str, bool]:
    _store(request).resume(name, processes=processes)
    return {"resumed": True}


@router.get("/runs/{name}/files/{relative:path}")
def run_file(request: Request, name: str, relative: str) -> FileResponse:
    return FileResponse(_store(request).file(name, relative))


@router.get("/compare")
def compare(request: Request, runs: str) -> dict[str, Any]:
    store = _store(request)
    names = [name for name in runs.split(",") if name]
    return {"diff": config_diff({name: store.config(name) for name in names})}


@router.post("/runs/{name}/chat")
def chat(request: Request, name: str, turn: ChatTurn) -> StreamingResponse:
    """The answer streamed as plain text; the passages RAG added to the prompt are in
    the ``X-Plugtune-Sources`` header (JSON, ASCII-escaped), sent before the text."""
    models = request.app.state.chat
    answer = models.stream(name, turn.message, turn.history, turn.system,
                           turn.max_new_tokens, rag=turn.rag)
    return StreamingResponse(answer.pieces, media_type="text/plain; charset=utf-8",
                             headers={SOURCES_HEADER: json.dumps(answer.sources)})


@router.post("/runs/{name}/predict")
def predict(request: Request, name: str, body: PredictRequest) -> dict[str, Any]:
    tasks.start_predict(_store(request), name, body.split, body.limit)
    return tasks.task_state(_store(request), name, "predict")


@router.get("/exports")
def export_formats(request: Request) -> list[dict[str, Any]]:
    """Every registered export format, its options, and why it cannot run here, if so."""
    return exports.export_formats(request.app.state.session)


@router.post("/runs/{name}/export")
def export(request: Request, name: str, body: ExportRequest) -> dict[str, Any]:
    exports.start_export(_store(request), name, request.app.state.session, body.format,
                         body.options)
    return tasks.task_state(_store(request), name, "export")


@router.get("/runs/{name}/tasks/{kind}")
def task(request: Request, name: str, kind: str) -> dict[str, Any]:
    if kind not in ("predict", "export"):
        raise ConfigError(f"no task {kind!r}")
    return tasks.task_state(_store(request), name, kind)
