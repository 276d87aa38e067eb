"""Built-in config readers: other tools' config files read as plugtune runs."""

from __future__ import annotations

from plugtune.core.hookspecs import hookimpl
from plugtune.core.interfaces import Register
from plugtune.plugins.config_readers.llamafactory import LlamaFactoryReader


@hookimpl
def register_config_readers(register: Register) -> None:
    register("llamafactory", LlamaFactoryReader)
