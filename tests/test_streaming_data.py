"""Bounded memory: ``plugtune data prepare`` reads, encodes and writes a chunk at a time
(its peak RSS does not grow with the corpus), and ``data.streaming`` trains sft/pt from
rows encoded while training, with no pass over the data first."""

from __future__ import annotations

import json
import logging
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from plugtune import Session, load_config
from plugtune.core.errors import ConfigError
from plugtune.core.records import RecordError
from plugtune.data.splits import shuffle_stream
from plugtune.training import train
from tests.conftest import REPO

ALPACA = REPO / "examples" / "data" / "tiny_alpaca.jsonl"
WORDS = ("plugins", "stream", "records", "through", "a", "tokenizer", "into", "arrow",
         "files", "while", "the", "model", "trains", "on", "rows", "it", "never", "holds")
TRAINING = ["training.logging_steps=1", "training.save_strategy=no",
            "training.per_device_train_batch_size=2", "output.plot=false"]


@pytest.fixture(scope="module")
def session():
    return Session()


def sentence(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choices(WORDS, k=rng.randint(low, high)))


def write_corpus(folder: Path, megabytes: float, *, bad_line: int = 3) -> tuple[Path, Path, int]:
    """A pretraining text folder (4 files) and an SFT JSON Lines file, each about
    ``megabytes``; line ``bad_line`` of the JSONL is broken. The count of good records."""
    rng = random.Random(0)
    texts = folder / "texts"
    texts.mkdir(parents=True)
    budget = int(megabytes * 2**20)
    records = 0
    for index in range(4):
        lines = []
        for _ in range(budget // 4 // 400):
            lines.append(sentence(rng, 50, 80))
        (texts / f"part{index}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        records += len(lines)
    sft = folder / "sft.jsonl"
    with sft.open("w", encoding="utf-8") as out:
        for number in range(1, budget // 400 + 1):
            if number == bad_line:
                out.write('{"instruction": "broken\n')
                continue
            row = {"instruction": sentence(rng, 5, 15), "output": sentence(rng, 30, 60)}
            out.write(json.dumps(row) + "\n")
            records += 1
    return texts, sft, records


def peak_rss_mib(config: Path, out: Path) -> tuple[float, str]:
    """``plugtune data prepare`` in a child of a fresh process, which reports the child's
    peak RSS (so no earlier child of the test run counts), and the child's stderr."""
    wrapper = ("import resource, subprocess, sys; "
               "done = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
               "sys.stderr.write(done.stderr); assert done.returncode == 0, done.stdout; "
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    done = subprocess.run([sys.executable, "-c", wrapper, sys.executable, "-m", "plugtune",
                           "data", "prepare", str(config), "--out", str(out)],
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "COLUMNS": "1000"})  # log lines unwrapped
    assert done.returncode == 0, done.stderr[-3000:]
    return int(done.stdout.split()[-1]) / 1024, done.stderr


@pytest.mark.slow
def test_prepare_peak_memory_does_not_grow_with_the_corpus(tmp_path):
    from plugtune.core.config import ModelConfig
    from plugtune.data.tokenizer import load_tokenizer

    load_tokenizer(ModelConfig())  # tiny://qwen2 built before any measurement
    measured = {}
    for name, megabytes in (("small", 1.0), ("large", 6.0)):
        texts, sft, records = write_corpus(tmp_path / name, megabytes)
        config = tmp_path / f"{name}.yaml"
        config.write_text(f"data: {{train: [{texts}, {sft}], cutoff_len: 128, "
                          "on_bad_record: skip, packing: true}\n")
        rss, log = peak_rss_mib(config, tmp_path / f"{name}_rows")
        manifest = json.loads((tmp_path / f"{name}_rows" / "manifest.json").read_text())
        assert manifest["splits"]["train"]["records"] == records  # every good record
        assert f"{sft}:3: not valid JSON" in log  # the bad line, by file and line
        measured[name] = (rss, records)
    (small, few), (large, many) = measured["small"], measured["large"]
    assert many > 5 * few
    # a list of the records would add ~35 MiB per MiB of input; chunks add nothing
    assert large / small <= 1.2, f"peak RSS {small:.0f} MiB -> {large:.0f} MiB"


def test_a_prepared_text_folder_reports_truncation(tmp_path, session):
    from plugtune.training.rows.prepared import prepare_folder

    texts, _, _ = write_corpus(tmp_path, 0.05)
    config = load_config(None, [f"data.train=[{texts}]", "trainer={name: pt, block_size: 64}"])
    manifest = prepare_folder(config, session, tmp_path / "rows")
    train = manifest["splits"]["train"]
    assert train["tokens"] == train["label_tokens"] > 0
    # every block but the last is full: the tail is kept, counted as truncated
    assert train["rows"] == -(-train["tokens"] // 64) and train["truncated"] == 1


def test_a_preview_reads_only_the_records_it_shows(tmp_path):
    from click.testing import CliRunner

    from plugtune.cli import cli

    rows = ALPACA.read_text().splitlines()
    data = tmp_path / "large.jsonl"
    data.write_text("\n".join([*rows[:5], "not json", *rows[5:]]) + "\n")
    config = tmp_path / "run.yaml"
    config.write_text(f"data: {{train: [{data}]}}\n")
    shown = CliRunner().invoke(cli, ["data", "preview", str(config), "-n", "3"])
    assert shown.exit_code == 0, shown.output  # line 6 is never read
    assert shown.output.count(f"{data}:") == 3
    split = CliRunner().invoke(cli, ["data", "preview", str(config), "-n", "3",
                                     "--set", "data.val_size=0.2"])  # needs every record
    assert split.exit_code == 1 and f"{data}:6: not valid JSON" in split.output


def losses(output_dir: Path) -> list[float]:
    lines = (output_dir / "trainer_log.jsonl").read_text().splitlines()
    return [entry["loss"] for entry in map(json.loads, lines) if "loss" in entry]


@pytest.mark.slow
def test_streaming_trains_as_the_records_in_file_order(tmp_path, session):
    """Without a shuffle buffer the stream is the file order: the same batches, so the
    same losses, as the list read in order (and past its end: 7 steps of 6 batches); the
    eval stream gives the eval list's loss."""
    common = [f"data.train=[{ALPACA}]", f"data.eval=[{ALPACA}]", "data.cutoff_len=48",
              "training.max_steps=7", *TRAINING]
    listed = train(load_config(None, [*common, f"output.dir={tmp_path / 'listed'}",
                                      "training.train_sampling_strategy=sequential"]), session)
    streamed = train(load_config(None, [*common, f"output.dir={tmp_path / 'streamed'}",
                                        "data.streaming=true", "data.buffer_size=0"]), session)
    assert len(losses(tmp_path / "streamed")) == 7
    assert losses(tmp_path / "streamed") == pytest.approx(losses(tmp_path / "listed"))
    assert streamed["num_input_tokens_seen"] == listed["num_input_tokens_seen"]
    assert streamed["eval_loss"] == pytest.approx(listed["eval_loss"])  # eval streams too


@pytest.mark.slow
def test_streaming_pretraining_from_a_text_folder(tmp_path, session):
    texts, _, _ = write_corpus(tmp_path, 0.02)
    config = load_config(None, [f"data.train=[{texts}]", "trainer={name: pt, block_size: 32}",
                                "data.streaming=true", "data.buffer_size=64",
                                "training.max_steps=3", f"output.dir={tmp_path / 'run'}",
                                *TRAINING])
    metrics = train(config, session)
    assert len(losses(tmp_path / "run")) == 3
    assert metrics["num_input_tokens_seen"] == 3 * 2 * 32  # full blocks from the stream


def test_the_shuffle_buffer_moves_records_a_bounded_distance():
    items = list(range(1000))
    once = list(shuffle_stream(items, 16, seed=1))
    assert sorted(once) == items and once != items
    assert once == list(shuffle_stream(items, 16, seed=1))  # seeded
    assert once != list(shuffle_stream(items, 16, seed=2))  # another epoch, another order
    assert all(item <= position + 16 for position, item in enumerate(once))  # read by then


@pytest.mark.parametrize(("overrides", "message"), [
    (["training.max_steps=-1"], "needs training.max_steps"),
    (["data.val_size=0.2"], "val_size would count the stream"),
    (["data.prepared=somewhere"], "memory-mapped from disk already"),
    (["training.train_sampling_strategy=group_by_length"], "groups rows by length"),
    (["trainer=dpo"], "trainer 'dpo' loads its records into memory"),
])
def test_streaming_refuses_what_it_cannot_do(tmp_path, session, overrides, message):
    config = load_config(None, [f"data.train=[{ALPACA}]", "data.streaming=true",
                                "training.max_steps=2", f"output.dir={tmp_path / 'run'}",
                                *TRAINING, *overrides])
    with pytest.raises(ConfigError, match="data.streaming: .*" + message):
        train(config, session)
    assert not (tmp_path / "run" / "trainer_log.jsonl").exists()  # refused before training


@pytest.mark.slow
def test_streaming_reports_bad_records_by_file_and_line(tmp_path, session, caplog):
    rows = ALPACA.read_text().splitlines()
    data = tmp_path / "bad.jsonl"
    data.write_text("\n".join([*rows[:4], '{"instruction": ', *rows[4:]]) + "\n")
    common = [f"data.train=[{data}]", "data.streaming=true", "training.max_steps=2",
              "data.cutoff_len=48", "data.buffer_size=0", *TRAINING]
    with pytest.raises(RecordError, match=f"{data}:5: not valid JSON"):
        train(load_config(None, [*common, f"output.dir={tmp_path / 'strict'}",
                                 "training.max_steps=6"]), session)
    with caplog.at_level(logging.WARNING, logger="plugtune.data"):
        train(load_config(None, [*common, f"output.dir={tmp_path / 'lenient'}",
                                 "training.max_steps=7", "data.on_bad_record=skip"]), session)
    assert f"{data}:5: not valid JSON" in caplog.text
    assert len(losses(tmp_path / "lenient")) == 7


def test_llamafactory_streaming_keys_map_to_data_streaming(tmp_path):
    import yaml

    base = {"model_name_or_path": "tiny://qwen2", "stage": "sft", "do_train": True,
            "finetuning_type": "lora", "dataset": "identity", "template": "qwen",
            "output_dir": str(tmp_path / "out"), "max_steps": 10}
    path = tmp_path / "lf.yaml"
    path.write_text(yaml.safe_dump({**base, "streaming": True, "buffer_size": 128}))
    config = load_config(path)
    assert (config.data.streaming, config.data.buffer_size) == (True, 128)
    path.write_text(yaml.safe_dump({**base, "streaming": True}))
    assert load_config(path).data.buffer_size == 16384  # LLaMA-Factory's default
    path.write_text(yaml.safe_dump(base))
    assert load_config(path).data.streaming is False


@pytest.mark.slow
def test_streaming_on_two_processes_shares_each_global_batch(tmp_path, session):
    """torchrun, 2 CPU processes: each reads the stream and trains on its half of every
    global batch of 4 rows; 5 steps are the 12 records once, then the first 8 again."""
    from plugtune.core.interfaces import TrainingRun
    from plugtune.plugins.trainers.sft import supervised_records
    from plugtune.training.rows.encoded import encode_rows
    from tests.helpers import free_port
    from tests.launching import BIN, launch

    settings = [f"data.train=[{ALPACA}]", "data.cutoff_len=48", "data.streaming=true",
                "data.buffer_size=0", "training.max_steps=5", f"output.dir={tmp_path / 'out'}",
                *TRAINING]
    config = tmp_path / "run.yaml"
    config.write_text(json.dumps(load_config(None, settings).model_dump(mode="json")))
    launch([str(BIN / "torchrun"), "--nproc_per_node", "2", "--master_port", str(free_port()),
            "-m", "plugtune", "train", str(config)], tmp_path)
    results = json.loads((tmp_path / "out" / "all_results.json").read_text())
    run = TrainingRun(session.validate(load_config(None, settings)), session, tmp_path)
    lengths = [len(row.input_ids) for row in encode_rows(run, supervised_records).rows["train"]]
    assert len(lengths) == 12
    assert results["num_input_tokens_seen"] == sum(lengths) + sum(lengths[:8])
    assert len(losses(tmp_path / "out")) == 5  # logged by rank 0 only
