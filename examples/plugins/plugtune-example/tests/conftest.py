"""Fixtures for plugtune-example's own tests: offline, a private model cache, no other
installed plugin, and the package pip-installed into a private folder (never into the
environment that runs the tests), put on ``sys.path`` only for the tests that ask."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from plugtune import PluginSelection, Session

# Never wait on the hub, never see plugins that happen to be installed here, and build
# tiny:// models into a cache private to this test run.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["PLUGTUNE_LOAD_PLUGINS"] = ""
os.environ.pop("PLUGTUNE_DISABLE_PLUGINS", None)
os.environ["PLUGTUNE_CACHE_DIR"] = tempfile.mkdtemp(prefix="plugtune-example-tests-")

EXAMPLE = Path(__file__).resolve().parents[1]
DISTRIBUTION = "plugtune-example"
PACKAGE = "plugtune_example"


def forget_package() -> None:
    """Drop the package's modules, so the next test imports them from its own path."""
    for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
        del sys.modules[name]


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``pip install`` the example, as a user would, into a private folder. It is built
    from a copy of its sources, so no stale build/ folder is installed and none is left
    in the repository."""
    source = tmp_path_factory.mktemp("source") / "plugtune-example"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns(
        "build", "dist", "*.egg-info", "tests", "__pycache__"))
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
         "--no-build-isolation", "--target", str(target), str(source)],
        check=True, capture_output=True,
    )
    return target


@pytest.fixture
def on_path(installed: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The installed example importable (and its entry point visible) for one test."""
    forget_package()
    monkeypatch.syspath_prepend(str(installed))
    yield installed
    forget_package()


@pytest.fixture
def example_session(on_path: Path) -> Session:
    """A session with the built-ins and plugtune-example, and no other plugin."""
    return Session(selection=PluginSelection(only=frozenset({DISTRIBUTION})))


@pytest.fixture
def example_environment(on_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The environment a user has after ``pip install``: what the ``plugtune`` CLI and
    ``plugtune.load_config`` (which build their own sessions) see."""
    monkeypatch.setenv("PLUGTUNE_LOAD_PLUGINS", DISTRIBUTION)
    return on_path


@pytest.fixture
def subprocess_environment(installed: Path) -> dict[str, str]:
    """Environment variables for a fresh ``python`` that sees only the example plugin."""
    return {**os.environ, "PYTHONPATH": str(installed), "PLUGTUNE_LOAD_PLUGINS": DISTRIBUTION}
