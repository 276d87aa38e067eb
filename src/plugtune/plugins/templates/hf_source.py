"""Reading a chat template and its special tokens from where models keep them.

A ``source`` is a ``.jinja`` file, a model or tokenizer folder (``chat_template.jinja``,
as transformers 5 saves it, or ``tokenizer_config.json``'s ``chat_template``), or a
``tiny://`` model. Only files are read: no tokenizer is loaded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plugtune.core.errors import ConfigError


@dataclass(frozen=True)
class TemplateSource:
    chat_template: str
    bos_token: str | None = None
    eos_token: str | None = None
    special_tokens: tuple[str, ...] = ()  # candidates for the end-of-turn token


def read_template_source(source: str) -> TemplateSource:
    """The chat template, bos/eos and special tokens that ``source`` holds."""
    if source.startswith("tiny://"):
        from plugtune.tiny import tiny_model_path

        path = tiny_model_path(source)
    else:
        path = Path(source).expanduser()
    if path.is_file():
        return TemplateSource(_read_text(path))
    if not path.is_dir():
        raise ConfigError(f"template 'hf': source {source!r} is neither a file nor a folder")
    config = _read_json(path / "tokenizer_config.json")
    jinja_file = path / "chat_template.jinja"
    chat_template = _read_text(jinja_file) if jinja_file.is_file() else _pick(config)
    if chat_template is None:
        raise ConfigError(
            f"template 'hf': {source} has no chat template (no chat_template.jinja, and no "
            "chat_template in tokenizer_config.json); name a template or give chat_template"
        )
    special_map = _read_json(path / "special_tokens_map.json")
    added = config.get("added_tokens_decoder") or {}
    specials = [entry.get("content") for entry in added.values() if entry.get("special")]
    tokenizer = _read_json(path / "tokenizer.json")
    specials += [t.get("content") for t in tokenizer.get("added_tokens") or () if t.get("special")]
    return TemplateSource(
        chat_template,
        _token(config.get("bos_token", special_map.get("bos_token"))),
        _token(config.get("eos_token", special_map.get("eos_token"))),
        tuple(dict.fromkeys(token for token in specials if isinstance(token, str))),
    )


def _pick(config: dict[str, Any]) -> str | None:
    """``chat_template`` is a string, or a list of named ones: take ``default``."""
    value = config.get("chat_template")
    if isinstance(value, list):
        named = {item.get("name"): item.get("template") for item in value}
        return named.get("default")
    return value


def _token(value: Any) -> str | None:
    if isinstance(value, dict):  # an AddedToken, serialized
        value = value.get("content")
    return value if isinstance(value, str) else None


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"template 'hf': cannot read {path}: {error}") from None


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigError(f"template 'hf': cannot read {path}: {error}") from None
    return data if isinstance(data, dict) else {}
