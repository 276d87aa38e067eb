"""Built-in multiple-choice benchmark layouts for ``plugtune eval``: C-Eval, MMLU, CMMLU."""

from __future__ import annotations

from plugtune.core.hookspecs import hookimpl
from plugtune.core.interfaces import Register
from plugtune.plugins.benchmarks.layouts import CevalLayout, CmmluLayout, MmluLayout


@hookimpl
def register_benchmarks(register: Register) -> None:
    for layout in (CevalLayout, MmluLayout, CmmluLayout):
        register(layout.name, layout)
