"""Built-in CLI commands, registered like any plugin's: ``plugtune <name>``."""

from __future__ import annotations

from plugtune.core.hookspecs import hookimpl
from plugtune.core.interfaces import Register
from plugtune.plugins.commands.chat import chat
from plugtune.plugins.commands.config import config
from plugtune.plugins.commands.data import data
from plugtune.plugins.commands.env import env, version
from plugtune.plugins.commands.evaluate import eval_command
from plugtune.plugins.commands.export import export
from plugtune.plugins.commands.plugins_list import plugins
from plugtune.plugins.commands.predict import predict
from plugtune.plugins.commands.rag import rag
from plugtune.plugins.commands.serve import serve
from plugtune.plugins.commands.tiny_model import tiny_model
from plugtune.plugins.commands.train import train
from plugtune.plugins.commands.webui import webui

COMMANDS = (chat, config, data, env, eval_command, export, plugins, predict, rag, serve,
            tiny_model, train, version, webui)


@hookimpl
def register_commands(register: Register) -> None:
    for command in COMMANDS:
        register(command)
