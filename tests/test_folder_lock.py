"""One writer per run folder: a second run, a data prepare or an export into a folder a
live process holds is refused at once, naming the holder; the first run finishes; a lock a
killed process left is taken over; the other ranks of a run write into the folder its
main process holds."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from plugtune.cli import cli
from plugtune.folder_lock import FolderBusy, hold_folder, lock_path
from plugtune.training.run.train import run_folder_lock
from plugtune.webui.runs import RunConflict, RunStore
from tests.conftest import REPO

TINY_DATA = REPO / "examples" / "data" / "tiny_alpaca.jsonl"
# Holds the folder in argv[1] until a line comes on stdin.
HOLDER = """
import sys
from plugtune.folder_lock import hold_folder

with hold_folder(sys.argv[1]):
    print("held", flush=True)
    sys.stdin.readline()
"""
# A callback that holds the first step until the release file is there.
WAITING_PLUGIN = """
import time
from pathlib import Path
from plugtune import hookimpl

STARTED, RELEASE = Path(__file__).with_name("started"), Path(__file__).with_name("release")

def wait_for_release():
    from transformers import TrainerCallback

    class WaitForRelease(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            STARTED.touch()
            deadline = time.monotonic() + 600  # only a hung test waits that long
            while not RELEASE.exists() and time.monotonic() < deadline:
                time.sleep(0.05)

    return WaitForRelease()

@hookimpl
def register_callbacks(register):
    register("wait_for_release", wait_for_release)
"""


@contextmanager
def held_by_another_process(folder: Path) -> Iterator[subprocess.Popen[str]]:
    """A process that holds ``folder`` until the block ends (or the test kills it)."""
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline() == "held\n"
        yield holder
    finally:
        if holder.poll() is None:
            holder.communicate("\n", timeout=120)


def write_config(path: Path, output: Path) -> Path:
    path.write_text(textwrap.dedent(f"""
        data: {{train: [{TINY_DATA}]}}
        training: {{max_steps: 2, per_device_train_batch_size: 4}}
        output: {{dir: {output}, overwrite: true}}
    """))
    return path


def refusal(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 1, result.output
    return result.output


def test_a_held_folder_and_the_folders_inside_it_are_refused_naming_the_holder(tmp_path):
    out = tmp_path / "out"
    with held_by_another_process(out) as holder:
        held = rf"in use by pid {holder.pid} on (?s:.*)started"
        with pytest.raises(FolderBusy, match=rf"out is {held}"), hold_folder(out):
            pass
        with pytest.raises(FolderBusy, match=rf"merged is inside .*out, {held}"), \
                hold_folder(out / "merged"):
            pass
    with hold_folder(out) as path:  # released: free again
        assert lock_path(path).is_file()
    assert not lock_path(out).exists()  # a clean exit leaves no lock file


def test_train_resume_data_prepare_and_export_are_refused_while_a_run_holds_the_folder(
        tmp_path):
    out = tmp_path / "out"
    config = write_config(tmp_path / "run.yaml", out)
    out.mkdir()
    (out / "run_config.yaml").write_text("{}")  # what overwrite: true would delete
    with held_by_another_process(out) as holder:
        for args in (["train", str(config)], ["train", str(config), "--resume"],
                     ["data", "prepare", str(config), "--out", str(out / "rows")],
                     ["export", str(config)]):
            message = refusal(*args)
            assert f"pid {holder.pid}" in message and "started" in message, args
            assert "python" in message and "-c" in message  # the holder's command
    assert (out / "run_config.yaml").read_text() == "{}"


def test_a_web_ui_launch_is_refused_while_a_terminal_run_holds_the_folder(tmp_path):
    store = RunStore(tmp_path / "runs")
    with held_by_another_process(store.folder("first")) as holder, \
            pytest.raises(RunConflict, match=f"run 'first': .* pid {holder.pid}"):
        store.launch("first", {})


def test_the_other_ranks_of_a_run_write_into_the_folder_its_main_process_holds(
        tmp_path, monkeypatch):
    out = tmp_path / "out"
    with held_by_another_process(out):
        monkeypatch.setenv("RANK", "1")
        with run_folder_lock(out):
            pass
        monkeypatch.setenv("RANK", "0")
        with pytest.raises(FolderBusy), run_folder_lock(out):
            pass


def test_a_lock_left_by_a_killed_process_is_taken_over_with_a_log_line(tmp_path, caplog):
    out = tmp_path / "out"
    with held_by_another_process(out) as holder:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=120)
    assert lock_path(out).is_file()  # a killed process removes nothing
    logger = logging.getLogger("plugtune.folder_lock")
    logger.addHandler(caplog.handler)  # the CLI's logging may stop records propagating
    try:
        with hold_folder(out):
            pass
    finally:
        logger.removeHandler(caplog.handler)
    assert f"taking over the lock left by pid {holder.pid}" in caplog.text
    assert "which no longer runs" in caplog.text


@pytest.mark.slow
def test_a_second_plugtune_train_is_refused_and_the_first_one_finishes(tmp_path):
    plugin = tmp_path / "waiting.py"
    plugin.write_text(textwrap.dedent(WAITING_PLUGIN))
    started, release = tmp_path / "started", tmp_path / "release"
    out = tmp_path / "out"
    config = write_config(tmp_path / "run.yaml", out)
    command = [sys.executable, "-m", "plugtune", "--plugin", str(plugin), "train", str(config),
               "--callback", "wait_for_release"]
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 600  # only a hung test waits that long
        while not started.exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert started.exists(), first.stderr.read().decode()[-2000:] if first.poll() else ""
        second = subprocess.run(command, capture_output=True, text=True, timeout=600)
        assert second.returncode == 1
        assert f"in use by pid {first.pid}" in second.stderr
        assert (out / "run_config.yaml").is_file()  # not deleted by the second's overwrite
    finally:
        release.touch()
        _, errors = first.communicate(timeout=600)
    assert first.returncode == 0, errors.decode()[-2000:]
    assert (out / "all_results.json").is_file()
    assert not lock_path(out).exists()
