"""PEFT adapters on an inference model: several by name, one active, or the base alone."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from plugtune.core.errors import ConfigError

# The name ``model.adapter`` is loaded under (peft's own default name).
CONFIG_ADAPTER = "default"


def attach_adapters(model: Any, adapters: Mapping[str, str]) -> Any:
    """``model`` with each adapter loaded under its name (a ``PeftModel`` if any)."""
    if not adapters:
        return model
    from peft import PeftModel

    for name, path in adapters.items():
        try:
            if isinstance(model, PeftModel):
                model.load_adapter(path, adapter_name=name)
            else:
                model = PeftModel.from_pretrained(model, path, adapter_name=name)
        except (OSError, ValueError, RuntimeError, KeyError) as error:
            where = "model.adapter" if name == CONFIG_ADAPTER else f"backend.adapters.{name}"
            raise ConfigError(f"{where}: cannot load the adapter {path!r}: {error}") from None
    return model


def select_adapter(model: Any, name: str | None, loaded: Mapping[str, str]) -> None:
    """Make ``name`` the active adapter (``None``: generate with the base model)."""
    if name is None:
        return
    if name not in loaded:
        known = ", ".join(sorted(loaded)) or "none loaded"
        raise ConfigError(f"no adapter {name!r} (adapters: {known}); None means the base model")
    model.set_adapter(name)


@contextlib.contextmanager
def adapter_scope(model: Any, name: str | None) -> Iterator[None]:
    """Generation inside runs with ``name``'s adapter, or without any when it is None."""
    if name is None and hasattr(model, "disable_adapter"):
        with model.disable_adapter():
            yield
    else:
        yield
