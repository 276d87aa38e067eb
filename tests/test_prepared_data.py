"""Prepared datasets: ``plugtune data prepare`` writes encoded rows once, ``data.prepared``
trains from them without reading or encoding the data again, and a run that differs
from the folder's manifest is refused, field by field."""

from __future__ import annotations

import json
import threading

import pytest
from click.testing import CliRunner

from plugtune import Session, load_config
from plugtune.cli import cli
from plugtune.core.errors import ConfigError
from plugtune.training import train
from plugtune.training.rows.prepared import prepare_folder
from tests.conftest import REPO, write_jsonl

ALPACA = REPO / "examples" / "data" / "tiny_alpaca.jsonl"
TRAINING = ["training.max_steps=3", "training.logging_steps=1", "training.save_strategy=no",
            "training.per_device_train_batch_size=2"]


@pytest.fixture(scope="module")
def session():
    return Session()


def data_config(*overrides, data=ALPACA):
    return load_config(None, [f"data.train=[{data}]", "data.cutoff_len=48", *overrides])


def run_config(tmp_path, folder, *overrides):
    """A run that names only the folder: every data setting is the folder's."""
    return load_config(None, [f"data.prepared={folder}", f"output.dir={tmp_path / 'run'}",
                              *TRAINING, *overrides])


def losses(output_dir):
    lines = (output_dir / "trainer_log.jsonl").read_text().splitlines()
    return [entry["loss"] for entry in map(json.loads, lines) if "loss" in entry]


def no_reading(monkeypatch):
    """Any attempt to load the records again fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("the records were loaded again")

    monkeypatch.setattr("plugtune.training.rows.encoded.load_datasets", refuse)


@pytest.mark.parametrize("packing", [False, True])
@pytest.mark.slow
def test_a_prepared_folder_trains_as_encoding_would(tmp_path, session, monkeypatch, packing):
    settings = [f"data.packing={packing}", "data.val_size=0.25"]
    fresh = data_config(*settings, f"output.dir={tmp_path / 'fresh'}", *TRAINING)
    expected = train(fresh, session)
    manifest = prepare_folder(data_config(*settings), session, tmp_path / "prepared")
    assert manifest["packed"] is packing
    assert manifest["splits"]["train"]["records"] == 9
    assert manifest["splits"]["eval"]["records"] == 3
    assert manifest["data"]["cutoff_len"] == 48
    no_reading(monkeypatch)
    got = train(run_config(tmp_path, tmp_path / "prepared"), session)
    assert losses(tmp_path / "run") == pytest.approx(losses(tmp_path / "fresh"))
    assert got["num_input_tokens_seen"] == expected["num_input_tokens_seen"]
    assert got["eval_loss"] == pytest.approx(expected["eval_loss"])


def test_rows_read_back_equal_the_encoded_rows_and_stay_on_disk(tmp_path, session):
    from plugtune.data.prepared import load_rows
    from plugtune.plugins.trainers.sft import supervised_records
    from plugtune.training.rows.encoded import encode_rows

    config = session.validate(data_config())
    prepare_folder(config, session, tmp_path / "prepared")
    from plugtune.core.interfaces import TrainingRun

    encoded = encode_rows(TrainingRun(config, session, tmp_path), supervised_records)
    read = load_rows(tmp_path / "prepared")["train"]
    assert read.dataset.cache_files  # memory-mapped Arrow files, not a copy in memory
    assert list(read) == encoded.rows["train"]
    assert read[2:5] == encoded.rows["train"][2:5] == read.__getitems__([2, 3, 4])


@pytest.mark.slow
def test_a_missing_folder_is_encoded_saved_and_then_reused(tmp_path, session, monkeypatch):
    folder = tmp_path / "tokenized"  # LLaMA-Factory's tokenized_path: made by the first run
    first = data_config(f"data.prepared={folder}", f"output.dir={tmp_path / 'first'}",
                        *TRAINING)
    train(first, session)
    assert (folder / "manifest.json").is_file()
    assert not list(tmp_path.glob(".tokenized.partial-*"))
    no_reading(monkeypatch)
    train(first.model_copy(update={"output": first.output.model_copy(
        update={"dir": str(tmp_path / "second")})}), session)
    assert losses(tmp_path / "second") == pytest.approx(losses(tmp_path / "first"))


@pytest.mark.parametrize(("override", "message"), [
    ("data.cutoff_len=64", "data.cutoff_len: 48 in the folder, 64 in this run"),
    ("data.packing=true", "data.packing: False in the folder, True in this run"),
    ("data.train_on=last", "data.train_on: 'all' in the folder, 'last' in this run"),
    ("model.path=tiny://llama", "tokenizer: 'tiny://qwen2 (sha256 "),
    ("template=chatml", "template: 'qwen2 (sha256 "),
    ("trainer=pt", "trainer: 'sft' in the folder, 'pt' in this run"),
])
@pytest.mark.slow
def test_a_run_that_differs_from_the_folder_is_refused(tmp_path, session, override, message):
    prepare_folder(data_config(), session, tmp_path / "prepared")
    config = run_config(tmp_path, tmp_path / "prepared", override)
    with pytest.raises(ConfigError, match="holds rows of another run") as error:
        train(config, session)
    assert message in str(error.value)
    assert not (tmp_path / "run" / "adapter_model.safetensors").exists()


@pytest.mark.slow
def test_the_same_dataset_named_again_is_no_mismatch(tmp_path, session, monkeypatch):
    prepare_folder(data_config(), session, tmp_path / "prepared")
    no_reading(monkeypatch)
    # transformers' length-grouping sampler reads the lengths of the memory-mapped rows
    train(run_config(tmp_path, tmp_path / "prepared", f"data.train=[{ALPACA}]",
                     "data.cutoff_len=48", "training.train_sampling_strategy=group_by_length"),
          session)


@pytest.mark.slow
def test_pt_blocks_keep_their_block_size(tmp_path, session):
    texts = write_jsonl(tmp_path / "texts.jsonl",
                        [{"text": f"line {i} of a corpus about plugins " * 8} for i in range(20)])
    pt = data_config("trainer={name: pt, block_size: 32}", data=texts)
    manifest = prepare_folder(pt, session, tmp_path / "prepared")
    assert manifest["template"] is None  # raw text: no chat template in the rows
    assert manifest["splits"]["train"]["examples"] == manifest["splits"]["train"]["rows"]
    config = run_config(tmp_path, tmp_path / "prepared", "trainer={name: pt, block_size: 64}")
    with pytest.raises(ConfigError, match="block_size: 32 in the folder, 64 in this run"):
        train(config, session)
    metrics = train(run_config(tmp_path, tmp_path / "prepared", "output.overwrite=true",
                               "trainer={name: pt, block_size: 32}"), session)
    assert metrics["num_input_tokens_seen"] == 3 * 2 * 32  # full blocks, as prepared


def test_trainers_of_other_rows_refuse_a_prepared_folder(tmp_path, session):
    prepare_folder(data_config(), session, tmp_path / "prepared")
    with pytest.raises(ConfigError, match="prepared datasets hold sft/pt rows.*'dpo'"):
        train(run_config(tmp_path, tmp_path / "prepared", "trainer=dpo"), session)
    with pytest.raises(ConfigError, match="trainer 'kto'"):
        prepare_folder(data_config("trainer=kto"), session, tmp_path / "other")


def test_a_folder_plugtune_did_not_prepare_is_refused(tmp_path, session):
    (tmp_path / "lf_tokenized").mkdir()
    (tmp_path / "lf_tokenized" / "dataset_dict.json").write_text('{"splits": ["train"]}')
    with pytest.raises(ConfigError, match="lf_tokenized has no manifest.json"):
        train(run_config(tmp_path, tmp_path / "lf_tokenized"), session)


def never(records):
    raise AssertionError("a rank other than 0 encoded")


@pytest.mark.slow
def test_other_ranks_wait_for_rank_0s_folder(tmp_path, session, monkeypatch):
    from plugtune.core.interfaces import TrainingRun
    from plugtune.plugins.trainers.sft import supervised_records
    from plugtune.training.rows import prepared as prepared_rows
    from plugtune.training.rows.encoded import encode_rows
    from plugtune.training.rows.prepared import rows_in_folder, write_folder
    from plugtune.training.rows.streams import RowStreams

    folder = tmp_path / "prepared"
    config = session.validate(data_config(f"data.prepared={folder}"))
    run = TrainingRun(config, session, tmp_path)
    encoded = encode_rows(run, supervised_records)
    streams = RowStreams.of(run, supervised_records, packing=False, block_size=None)
    monkeypatch.setenv("RANK", "1")
    waited = []
    wait_for_file = prepared_rows.wait_for_file

    def rank_0_writes_while_rank_1_waits(path, timeout_s, why):
        waited.append(path.exists())
        rank_0 = threading.Thread(target=write_folder, args=(folder, streams))
        rank_0.start()
        wait_for_file(path, timeout_s, why)
        rank_0.join()

    monkeypatch.setattr(prepared_rows, "wait_for_file", rank_0_writes_while_rank_1_waits)
    rows = rows_in_folder(run, never, packing=False, block_size=None)
    assert waited == [False]  # it waited for a manifest that was not there yet
    assert list(rows.rows["train"]) == encoded.rows["train"]


@pytest.mark.slow
def test_other_ranks_give_up_with_the_folder_named(tmp_path, session, monkeypatch):
    from plugtune.core.interfaces import TrainingRun
    from plugtune.training.rows.prepared import rows_in_folder

    monkeypatch.setenv("RANK", "1")
    config = session.validate(data_config(f"data.prepared={tmp_path / 'nowhere'}",
                                          "training.ddp_timeout=1"))
    with pytest.raises(TimeoutError, match="nowhere/manifest.json: not written by rank 0"):
        rows_in_folder(TrainingRun(config, session, tmp_path), never, packing=False,
                       block_size=None)


def test_data_prepare_command(tmp_path, monkeypatch):
    config = tmp_path / "run.yaml"
    config.write_text(f"data: {{train: [{ALPACA}], cutoff_len: 256, packing: true}}\n")
    monkeypatch.chdir(tmp_path)
    done = CliRunner().invoke(cli, ["data", "prepare", str(config), "--out", "prepared"])
    assert done.exit_code == 0, done.output
    assert "prepared: rows for trainer sft" in done.output
    assert "train: 12 records in 3 rows" in done.output  # packed
    assert "train from it with data: {prepared: prepared}" in done.output
    again = CliRunner().invoke(cli, ["data", "prepare", str(config), "--out", "prepared"])
    assert again.exit_code == 1 and "--out prepared: exists" in again.output
    nowhere = CliRunner().invoke(cli, ["data", "prepare", str(config)])
    assert "name the folder to write with --out DIR" in nowhere.output
