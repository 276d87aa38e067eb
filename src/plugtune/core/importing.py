"""Import code named by the user: ``pkg.module``, ``pkg.module:attr`` or ``path/file.py:attr``.
A file's module is named after its resolved path and kept in ``sys.modules``, so naming
it twice (or re-importing it, as ``torchrun`` does) gives the same objects."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from plugtune.core.errors import PluginError


def is_code_reference(ref: str) -> bool:
    """Whether ``ref`` names code (``x.py``, ``x.py:attr``, ``pkg.mod:attr``) rather than a
    registered component name."""
    return ":" in ref or ref.endswith(".py")


def import_file(path: str | Path) -> ModuleType:
    """Import a Python file as a module, once per resolved path."""
    resolved = Path(path).expanduser().resolve()
    if not resolved.is_file():
        raise PluginError(f"{path}: no such Python file")
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:10]
    module_name = f"plugtune_local_{resolved.stem}_{digest}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, resolved)
    if spec is None or spec.loader is None:
        raise PluginError(f"{path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def import_object(ref: str) -> object:
    """Resolve ``pkg.module``, ``pkg.module:attr.sub`` or ``path/file.py:attr``."""
    location, _, attribute = ref.partition(":")
    if location.endswith(".py") or "/" in location:
        target: object = import_file(location)
    else:
        target = importlib.import_module(location)
    for part in filter(None, attribute.split(".")):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise PluginError(f"{ref}: {location} has no attribute {part!r}") from None
    return target


def qualified_name(obj: object) -> str:
    """``module:qualname`` of a function or class; identifies re-imported copies."""
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if module is None or qualname is None:
        return f"<{type(obj).__name__} at {id(obj):#x}>"
    return f"{module}:{qualname}"
