"""The ``openai`` backend: answers through any OpenAI-compatible HTTP server.

``plugtune serve``, vLLM, llama.cpp's server or OpenAI itself: ``generate`` posts one
``/chat/completions`` request per conversation, ``max_concurrency`` at a time (threads),
and returns the answers in order; ``stream`` reads the server-sent events of
``stream: true``. ``use_adapter(name)`` asks for the model ``name`` from then on (how
vLLM serves LoRA adapters); ``None`` goes back to the configured model. httpx is
imported only when a request is made.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from plugtune.core.errors import PlugtuneError
from plugtune.core.records import Conversation

if TYPE_CHECKING:
    from plugtune.core.config import GenerationConfig, RunConfig
    from plugtune.core.session import Session


class OpenAIOptions(BaseModel):
    """Where the server is, how to authenticate, which model, and how many requests at once."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field("http://127.0.0.1:8000/v1",
                          description="The API root, up to and including /v1.")
    api_key: str | None = Field(None, description="The key; else read from api_key_env.")
    api_key_env: str = Field("OPENAI_API_KEY",
                             description="Environment variable holding the key (if any).")
    model: str | None = Field(None, description="Model id to ask for; default: model.path.")
    timeout: float = Field(120.0, gt=0, description="Seconds per request.")
    max_concurrency: int = Field(8, gt=0, description="Requests in flight at once.")


class OpenAIBackend:
    """Generate through an OpenAI-compatible ``/chat/completions`` endpoint."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000/v1",
        api_key: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        model: str | None = None,
        timeout: float = 120.0,
        max_concurrency: int = 8,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.api_key_env = api_key_env
        self.model = model
        self.timeout = timeout
        self.max_concurrency = max_concurrency
        self.batch_size = max_concurrency
        self.adapter: str | None = None
        self.generation: GenerationConfig | None = None

    def load(self, config: RunConfig, session: Session) -> None:
        """Take the model id (``model`` option, else ``model.path``) and the generation
        defaults; nothing is contacted until the first request."""
        if self.model is None:
            self.model = config.model.path
        if self.api_key is None and self.api_key_env:
            self.api_key = os.environ.get(self.api_key_env) or None
        self.generation = config.generation

    def use_adapter(self, name: str | None) -> None:
        """Ask for the model ``name`` from now on (``None``: the configured model)."""
        self.adapter = name

    def generate(
        self, conversations: Sequence[Conversation], params: GenerationConfig | None = None
    ) -> list[str]:
        """One answer per conversation, in order; ``max_concurrency`` requests at once."""
        import httpx

        params = self._params(params)
        with httpx.Client(timeout=self.timeout, headers=self._headers()) as client:
            if len(conversations) <= 1 or self.max_concurrency == 1:
                return [self._complete(client, c, params) for c in conversations]
            workers = min(self.max_concurrency, len(conversations))
            with ThreadPoolExecutor(max_workers=workers) as pool:
                return list(pool.map(lambda c: self._complete(client, c, params),
                                     conversations))

    def stream(
        self, conversation: Conversation, params: GenerationConfig | None = None
    ) -> Iterator[str]:
        """The answer in pieces, from the server's ``stream: true`` events."""
        import httpx

        body = self._body(conversation, self._params(params), stream=True)
        with httpx.Client(timeout=self.timeout, headers=self._headers()) as client:
            try:
                with client.stream("POST", self._url(), json=body) as response:
                    if response.status_code >= 400:
                        response.read()
                        raise self._status_error(response)
                    for line in response.iter_lines():
                        if not line.startswith("data:"):
                            continue
                        data = line[len("data:"):].strip()
                        if data == "[DONE]":
                            return
                        event = json.loads(data)
                        if "error" in event:
                            raise PlugtuneError(
                                f"openai backend: {self.base_url}: {_message(event)}"
                            )
                        for choice in event.get("choices") or ():
                            if piece := (choice.get("delta") or {}).get("content"):
                                yield piece
            except httpx.HTTPError as error:
                raise self._transport_error(error) from error

    # -- requests --------------------------------------------------------------

    def _complete(self, client: Any, conversation: Conversation,
                  params: GenerationConfig) -> str:
        import httpx

        try:
            response = client.post(self._url(), json=self._body(conversation, params))
        except httpx.HTTPError as error:
            raise self._transport_error(error) from error
        if response.status_code >= 400:
            raise self._status_error(response)
        try:
            return response.json()["choices"][0]["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError) as error:
            raise PlugtuneError(
                f"openai backend: {self.base_url}: unexpected response "
                f"{response.text[:200]!r}"
            ) from error

    def _body(self, conversation: Conversation, params: GenerationConfig,
              stream: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.adapter or self.model,
            "messages": [_message_json(message) for message in conversation.messages],
            "temperature": params.temperature,
            "top_p": params.top_p,
            "max_tokens": params.max_new_tokens,
        }
        if params.stop:
            body["stop"] = list(params.stop)
        if params.top_k:  # not OpenAI's: sent only when set (vLLM and plugtune serve take it)
            body["top_k"] = params.top_k
        if params.repetition_penalty != 1.0:
            body["repetition_penalty"] = params.repetition_penalty
        if params.seed is not None:
            body["seed"] = params.seed
        if stream:
            body["stream"] = True
        return body

    def _params(self, params: GenerationConfig | None) -> GenerationConfig:
        if params is not None:
            return params
        if self.generation is None:
            from plugtune.core.config import GenerationConfig

            return GenerationConfig()
        return self.generation

    def _url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def _transport_error(self, error: Exception) -> PlugtuneError:
        return PlugtuneError(
            f"openai backend: cannot reach {self.base_url} "
            f"({type(error).__name__}: {error}); is the server running? (backend.base_url)"
        )

    def _status_error(self, response: Any) -> PlugtuneError:
        try:
            detail = _message(response.json())
        except ValueError:
            detail = response.text[:200]
        return PlugtuneError(
            f"openai backend: {self.base_url} answered {response.status_code}: {detail}"
        )


def _message_json(message: Any) -> dict[str, Any]:
    data = message.to_openai()
    data.pop("reasoning_content", None)
    return data


def _message(payload: Any) -> str:
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        return str(payload["error"].get("message", payload["error"]))
    if isinstance(payload, dict) and "detail" in payload:
        return str(payload["detail"])
    return str(payload)[:200]
