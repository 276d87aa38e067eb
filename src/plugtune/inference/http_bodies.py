"""A request body read defensively: size-limited, JSON, and only text the tokenizer can
take. Every problem is a :class:`RequestError` with a 4xx status, never a 5xx: the
server reads every body with this before anything else sees it."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

# Deeper than any real request; json's own limit is Python's recursion limit.
MAX_DEPTH = 64


class RequestError(Exception):
    """A request the server cannot answer: becomes an OpenAI-style error response
    (``status``: 400 by default; 401, 404, 408, 413, 415, 429, 503 where they apply)."""

    def __init__(self, message: str, param: str | None = None, status: int = 400,
                 code: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message, self.param, self.status, self.code = message, param, status, code
        self.headers = headers

    def response(self) -> JSONResponse:
        error_type = "invalid_request_error" if self.status < 500 else "server_error"
        body = {"message": self.message, "type": error_type, "param": self.param,
                "code": self.code}
        return JSONResponse({"error": body}, status_code=self.status, headers=self.headers)


async def read_json(request: Request, max_bytes: int) -> Any:
    """The body as JSON: 415 unless it says it is JSON (or says nothing), 413 past
    ``max_bytes`` (checked as it arrives, not only from ``Content-Length``), 400 for bytes
    that are not UTF-8, for JSON that does not parse, nests deeper than
    :data:`MAX_DEPTH`, has NaN or Infinity, or text with lone surrogates."""
    kind = request.headers.get("content-type", "application/json").split(";")[0].strip()
    if kind and "json" not in kind.lower():
        raise RequestError(f"content type {kind!r} is not accepted; send application/json",
                           status=415, code="unsupported_media_type")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        chunks.append(chunk)
    try:
        text = b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError as error:
        raise RequestError(f"the body is not UTF-8 (byte {error.start})") from None
    try:
        body = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as error:
        raise RequestError(f"the body is not valid JSON: {error}") from None
    check_text(body)
    return body


def check_text(value: Any, where: str = "", depth: int = 0) -> None:
    """400 for nesting past :data:`MAX_DEPTH` or a string (key or value) that is not
    valid Unicode text (JSON's ``\\ud800`` escapes make lone surrogates, which no
    tokenizer encodes)."""
    if depth > MAX_DEPTH:
        raise RequestError(f"{where or 'the body'}: nested deeper than {MAX_DEPTH} levels",
                           param=where or None)
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise RequestError(f"{where or 'the body'}: the text has a lone surrogate "
                               f"(\\ud800-\\udfff); send valid Unicode",
                               param=where or None) from None
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(key, where, depth + 1)
            check_text(item, f"{where}.{key}" if where else str(key), depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_text(item, f"{where}[{index}]", depth + 1)


def _too_large(max_bytes: int) -> RequestError:
    return RequestError(f"the body is larger than {max_bytes} bytes (--max-body-mb)",
                        status=413, code="request_too_large")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")
