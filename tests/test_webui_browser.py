"""The web UI end to end in a real headless Chromium (Debian's chromium and
chromium-driver, driven by Selenium; nothing is downloaded): fill the form, see the
config layer's message beside a bad field, pick a retriever over a real RAG store,
launch a 10-step run on tiny://qwen2, watch the curve grow, stop (a checkpoint at the
step it stopped) and resume from there, reload, chat with the adapter with RAG on and
see the passage's source, predict and see the metric table, export as GGUF with its
options (or see why not, without llama.cpp's converter), compare. Screenshots go to the
test's folder; with PLUGTUNE_SCREENSHOTS=1 the runs page also replaces
docs/images/webui.png (the README's), so an ordinary test run never changes the working
tree."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, converter_present, needs
from tests.helpers import HUNG_S, threaded_server, wait_for
from tests.webui_helpers import TINY_DATA, kill_jobs, logged_steps, rag_store

CHROMIUM, DRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
pytestmark = needs(CHROMIUM.exists() and DRIVER.exists(),
                   "Debian's chromium and chromium-driver (make browser installs them)")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """The web UI on a free local port, in a thread; its runs killed afterwards."""
    from plugtune.webui.app import create_app

    runs = tmp_path / "runs"
    try:
        with threaded_server(create_app(runs)) as url:
            yield url
    finally:
        kill_jobs(runs)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """Headless Chromium; its last screen is kept (last.png) to show where a failure was."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--window-size=1440,1400"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=str(DRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.save_screenshot(str(tmp_path / "last.png"))
        driver.quit()


class Page:
    """The few things the test does on the page, each waiting for its effect."""

    def __init__(self, driver: Any, shots: Path) -> None:
        from selenium.webdriver.common.by import By

        self.driver, self.by, self.shots = driver, By, shots

    def find(self, css: str) -> Any:
        return wait_for(lambda: self.driver.find_elements(self.by.CSS_SELECTOR, css),
                        what=css)[0]

    def attribute(self, css: str, name: str) -> str:
        """An attribute of the first match ("" if none); the page redraws every second,
        so an element may go stale between finding and reading it: read it again."""
        from selenium.common.exceptions import StaleElementReferenceException

        try:
            found = self.driver.find_elements(self.by.CSS_SELECTOR, css)
            return (found[0].get_attribute(name) or "") if found else ""
        except StaleElementReferenceException:
            return ""

    def text(self, css: str) -> str:
        return self.attribute(css, "textContent")

    def fill(self, key: str, value: str) -> None:
        field = self.find(f"#f-{key.replace('.', '-')}")
        field.clear()
        field.send_keys(value)

    def choose(self, css: str, value: str) -> None:
        from selenium.webdriver.support.ui import Select

        Select(self.find(css)).select_by_value(value)

    def wait_text(self, css: str, expected: str, timeout: float = HUNG_S) -> None:
        wait_for(lambda: expected in self.text(css), timeout, f"{expected!r} in {css}")

    def points(self) -> int:
        return int(self.attribute("#chart-loss polyline", "data-points") or 0)

    def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path


@pytest.mark.slow
def test_configure_launch_watch_stop_resume_chat_predict(server, browser, tmp_path):
    page = Page(browser, tmp_path)
    store = tmp_path / "store"
    browser.get(server)
    page.fill("training.learning_rate", "-1")
    page.wait_text('[data-field="training.learning_rate"] .error', "greater than 0")
    page.shot("1-invalid-field")
    for key, value in {"training.learning_rate": "1e-5", "data.train": TINY_DATA,
                       "data.test": TINY_DATA, "data.max_samples": "16",
                       "training.max_steps": "10", "training.logging_steps": "1",
                       "training.per_device_train_batch_size": "4",
                       "training.gradient_accumulation_steps": "4",
                       "generation.max_new_tokens": "8"}.items():
        page.fill(key, value)
    page.fill("training-extra", "save_steps = 100")  # the only checkpoint is Stop's
    page.find("#preview-data").click()
    page.wait_text("#data-preview .trained", "LoRA trains")
    page.wait_text("#data-stats", "train")
    page.shot("1-preview")
    pool = ThreadPoolExecutor(1)  # the store is built while the run trains (its own process)
    building = pool.submit(rag_store, store)
    for metric in ("exact_match", "bleu"):
        page.find(f'#f-evaluation-metrics input[value="{metric}"]').click()
    page.choose("#f-retriever", "chroma")
    page.fill("retriever.db", str(store))
    page.wait_text("#yaml-preview", "- bleu")
    page.choose("#f-data-padding_free", "false")  # a three-way field: unset, true, false
    page.wait_text("#yaml-preview", "padding_free: false")
    page.choose("#f-data-padding_free", "")
    wait_for(lambda: "padding_free" not in page.text("#yaml-preview"),
             what="data.padding_free unset again")
    assert "save_steps: 100" in page.text("#yaml-preview")
    assert "name: chroma" in page.text("#yaml-preview")
    assert not page.text('[data-field="training.learning_rate"] .error')
    page.find("#launch").click()
    page.wait_text("#run-status", "running")
    first = wait_for(page.points, 180, "the first point of the loss curve")
    wait_for(lambda: page.points() > first, 120, "the loss curve to grow")
    page.shot("2-running")
    page.find("#stop-run").click()
    page.wait_text("#run-status", "stopped")
    stopped_at = max(logged_steps(tmp_path / "runs" / "run-1"))
    page.wait_text("#run-actions", f"checkpoints: checkpoint-{stopped_at}")
    page.shot("3-stopped")
    page.find("#resume-run").click()
    page.wait_text("#run-status", "finished", 240)
    browser.refresh()  # nothing is lost: the run is found again from the runs folder
    page.find("#tab-runs").click()
    page.find('#run-list li[data-run="run-1"]').click()
    page.wait_text("#run-progress-text", "step 10 / 10")
    steps = logged_steps(tmp_path / "runs" / "run-1")
    assert steps[stopped_at:] == list(range(stopped_at + 1, 11))  # resumed where it stopped
    building.result()
    pool.shutdown()
    page.find("#chat-rag").click()
    page.find("#chat-input").send_keys("Which volcano is the largest?\n")
    page.find(".chat-log .answer[data-done]")
    assert "volcano.md" in page.text(".chat-log .sources")
    page.find("#predict-limit").send_keys("4")
    page.find("#predict-run").click()
    page.choose("#export-format", "gguf")
    if converter_present():
        page.fill("export.quant", "q8_0")
        page.find("#export-run").click()  # beside predict: each is its own process
    else:
        page.wait_text("#export-note", "needs llama.cpp's converter")
    page.wait_text("#metric-table", "bleu-4", 180)
    if converter_present():
        page.wait_text("#export-state", "export: finished", 180)
        assert (tmp_path / "runs" / "run-1" / "gguf" / "model-q8_0.gguf").is_file()
    page.wait_text("#predict-table", "per sample")
    used = page.shot("4-used")
    if os.environ.get("PLUGTUNE_SCREENSHOTS") == "1":
        shutil.copy(used, REPO / "docs" / "images" / "webui.png")
    page.find("#tab-compare").click()
    page.find('#compare-picks input[value="run-1"]').click()
    page.find("#compare-chart polyline")
    page.shot("5-compare")


@pytest.mark.slow
def test_a_grpo_runs_page_charts_its_rewards_and_episodes(server, browser, tmp_path):
    """A run folder an agentic GRPO run left (as the CLI writes it): its page draws the
    total reward and each reward's mean, and the episodes' tool calls and parse failures,
    one line per logged key; a run without them shows neither chart."""
    import json

    import yaml

    runs = tmp_path / "runs"
    for name, extra in (("agent", True), ("plain", False)):
        folder = runs / name
        folder.mkdir(parents=True)
        (folder / "run_config.yaml").write_text(yaml.safe_dump({"training": {"max_steps": 4}}))
        (folder / "all_results.json").write_text("{}")
        entries = [{"step": step, "loss": 0.1 * step, "learning_rate": 1e-3,
                    "elapsed": 30.0 * step, **({
            "reward": 0.2 * step, "rewards/accuracy/mean": 0.15 * step,
            "rewards/bare_number/mean": 0.25, "episodes/tool_calls": 0.25 * step,
            "episodes/parse_failures": 0.5 / step, "episodes/stopped_answer": 1.0,
        } if extra else {})} for step in range(1, 5)]
        (folder / "trainer_log.jsonl").write_text("".join(json.dumps(e) + "\n" for e in entries))
    page = Page(browser, tmp_path)
    browser.get(server)
    page.find("#tab-runs").click()
    page.find('#run-list li[data-run="agent"]').click()
    page.find("#chart-episodes polyline")
    rewards = browser.find_elements(page.by.CSS_SELECTOR, "#chart-rewards polyline")
    episodes = browser.find_elements(page.by.CSS_SELECTOR, "#chart-episodes polyline")
    assert [line.get_attribute("data-points") for line in rewards] == ["4", "4", "4"]
    assert len(episodes) == 2  # tool calls and parse failures; stop reasons are not drawn
    assert "bare_number" in page.text("#chart-rewards .legend")
    page.shot("agentic-run")
    page.find('#run-list li[data-run="plain"]').click()
    wait_for(lambda: page.attribute("#chart-rewards", "style") == "display: none;",
             what="the reward chart hidden for a run without rewards")
    assert page.attribute("#chart-episodes", "style") == "display: none;"
