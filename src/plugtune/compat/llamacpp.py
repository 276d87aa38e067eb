"""The reaches into llama.cpp's converter (checked against the converter and gguf-py
that llama-cpp-python 0.3.36 vendors, gguf-py 0.19.0).

Both patch the converter's process (:mod:`plugtune.deploy.gguf_driver` runs it): they
import the converter's own modules, so they run only after its folders lead
``sys.path``. Each entry names what it relies on; tests/test_compat_contracts.py pins
each one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def fall_back_to_pre_tokenizer(name: str) -> None:
    """Make an unknown tokenizer hash name the pre-tokenizer ``name``: wraps the
    converter's ``TextModel.get_vocab_base_pre(self, tokenizer)`` (in
    ``conversion.base``), which raises ``NotImplementedError`` for a hash it does not
    know."""
    from conversion.base import TextModel  # the vendored converter package

    known: Callable[[Any, Any], str] = TextModel.get_vocab_base_pre

    def get_vocab_base_pre(self: Any, tokenizer: Any) -> str:
        try:
            return known(self, tokenizer)
        except NotImplementedError:
            return name

    TextModel.get_vocab_base_pre = get_vocab_base_pre  # type: ignore[method-assign]


def add_header_metadata(pairs: dict[str, Any]) -> None:
    """Add ``pairs`` to every GGUF header this process writes (one file, or each
    shard): wraps gguf-py's ``GGUFWriter.write_header_to_file``, the last moment keys
    can still be added (``add_bool``, ``add_uint32``, ``add_string``)."""
    import gguf  # the vendored gguf-py, first on sys.path

    write_header = gguf.GGUFWriter.write_header_to_file

    def with_metadata(self: Any, *args: Any, **kwargs: Any) -> Any:
        for key, value in pairs.items():
            if isinstance(value, bool):
                self.add_bool(key, value)
            elif isinstance(value, int):
                self.add_uint32(key, value)
            else:
                self.add_string(key, str(value))
        return write_header(self, *args, **kwargs)

    gguf.GGUFWriter.write_header_to_file = with_metadata  # type: ignore[method-assign]
