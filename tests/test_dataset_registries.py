"""Dataset registries, files, detection, the bad-record policy, mixing and splitting."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from plugtune import ConfigError, Session, load_config
from plugtune.core.config import DataConfig, DatasetSpec
from plugtune.core.records import Conversation, LabeledCompletion, Preference, Text
from plugtune.data import load_dataset, load_datasets, read_registry
from tests.conftest import FIXTURES, needs_fixtures, write_json, write_jsonl

LLAMAFACTORY = FIXTURES / "llamafactory_data"

# Every entry of the fixture dataset_info.json with a local file: loader, type, count.
LOCAL_ENTRIES = {
    "identity": ("alpaca", Conversation, 91),
    "alpaca_en_demo": ("alpaca", Conversation, 999),
    "alpaca_zh_demo": ("alpaca", Conversation, 1000),
    "glaive_toolcall_en_demo": ("sharegpt", Conversation, 300),
    "glaive_toolcall_zh_demo": ("sharegpt", Conversation, 300),
    "mllm_demo": ("sharegpt", Conversation, 6),
    "mllm_audio_demo": ("sharegpt", Conversation, 3),
    "mllm_video_demo": ("sharegpt", Conversation, 3),
    "mllm_video_audio_demo": ("sharegpt", Conversation, 3),
    "dpo_en_demo": ("sharegpt", Preference, 300),
    "dpo_zh_demo": ("sharegpt", Preference, 300),
    "kto_en_demo": ("sharegpt", LabeledCompletion, 300),
    "wiki_demo": ("text", Text, 30),
    "c4_demo": ("text", Text, 300),
}
# Two glaive zh rows answer a tool result with no structured tool call before it: the
# call was translated into prose ("AI 计算折扣: {...}"). They load: a tool result may
# follow any assistant turn, as in LLaMA-Factory.
GLAIVE_ZH_PROSE_CALLS = (197, 293)


@pytest.fixture(scope="module")
def session():
    return Session()


@pytest.fixture(scope="module")
def registry():
    return read_registry(LLAMAFACTORY / "dataset_info.json")


def lf_config(**fields):
    return DataConfig(dataset_dir=str(LLAMAFACTORY), **fields)


# -- LLaMA-Factory's dataset_info.json ---------------------------------------------------


@needs_fixtures
def test_the_fixture_registry_has_the_expected_local_entries(registry):
    local = [name for name in registry.names() if "file_name" in registry._raw[name]]
    assert sorted(local) == sorted(LOCAL_ENTRIES)


@needs_fixtures
@pytest.mark.parametrize("name", sorted(LOCAL_ENTRIES))
def test_every_local_llamafactory_entry_loads(session, name):
    loader, record_type, count = LOCAL_ENTRIES[name]
    records, report = load_dataset(name, session, config=lf_config(on_bad_record="error"))
    assert (report.loader, len(records)) == (loader, count)
    assert all(type(record) is record_type for record in records)
    assert report.skipped == 0


@needs_fixtures
def test_glaive_zh_rows_with_prose_tool_calls_keep_their_tool_results(session):
    records, _ = load_dataset("glaive_toolcall_zh_demo", session, config=lf_config())
    for index in GLAIVE_ZH_PROSE_CALLS:
        roles = [message.role for message in records[index].messages]
        assert roles[roles.index("tool") - 1] == "assistant"
        assert not records[index].messages[roles.index("tool") - 1].tool_calls


@needs_fixtures
def test_multimodal_paths_resolve_to_the_fixture_media(session):
    records, _ = load_dataset("mllm_video_audio_demo", session, config=lf_config())
    media = [
        path for record in records for key in ("videos", "audios") for path in record.meta[key]
    ]
    assert media and all(Path(path).is_file() for path in media)
    assert all(Path(path).is_relative_to(LLAMAFACTORY / "mllm_demo_data") for path in media)


@needs_fixtures
def test_demo_records_look_right(session):
    glaive, _ = load_dataset("glaive_toolcall_en_demo", session, config=lf_config())
    called = [m for record in glaive for m in record.messages if m.tool_calls]
    assert called and all(call.name for m in called for call in m.tool_calls)
    dpo, _ = load_dataset("dpo_en_demo", session, config=lf_config())
    assert all(pair.prompt.messages[-1].role == "user" for pair in dpo)
    assert sum(pair.prompt.system is not None for pair in dpo) == 80
    kto, _ = load_dataset("kto_en_demo", session, config=lf_config())
    assert sum(record.label for record in kto) == 150
    wiki, _ = load_dataset("wiki_demo", session, config=lf_config())
    assert wiki[0].origin.endswith("wiki_demo.txt:1") and wiki[-1].origin.endswith(":30")


@needs_fixtures
def test_hub_only_entries_are_not_available_offline(registry):
    hub = [name for name in registry.names() if "file_name" not in registry._raw[name]]
    assert len(hub) == 90
    for name in hub:
        with pytest.raises(
            ConfigError, match=f"dataset '{name}': lives on .* not available offline"
        ):
            registry.get(name)


@needs_fixtures
def test_a_hub_entry_named_in_a_config_fails_clearly(session):
    config = lf_config(train=["alpaca_en"])
    with pytest.raises(
        ConfigError,
        match=r"'alpaca_en': lives on the Hugging Face hub "
        r"\(llamafactory/alpaca_en\) and is not available offline",
    ):
        load_datasets(config, session)


def test_unknown_entry_keys_are_errors_with_a_suggestion(tmp_path, session):
    write_jsonl(tmp_path / "d.jsonl", [{"conversations": []}])
    info = {"mine": {"file_name": "d.jsonl", "format": "sharegpt"}}
    registry = read_registry(write_json(tmp_path / "dataset_info.json", info))
    with pytest.raises(ConfigError) as error:
        registry.get("mine")
    assert "dataset 'mine'" in str(error.value)
    assert "format: unknown key (did you mean 'formatting'?)" in str(error.value)
    with pytest.raises(ConfigError, match=r"no dataset named 'mien' \(did you mean 'mine'\?\)"):
        registry.get("mien")


def test_registry_columns_are_checked_by_the_loader(tmp_path, session):
    write_jsonl(tmp_path / "d.jsonl", [{"q": "a", "r": "b"}])
    write_json(
        tmp_path / "dataset_info.json",
        {"mine": {"file_name": "d.jsonl", "columns": {"promt": "q"}}},
    )
    with pytest.raises(
        ConfigError, match=r"(?s)dataset 'mine'.*unknown column 'promt' \(did you mean"
    ):
        load_dataset("mine", session, config=DataConfig(dataset_dir=str(tmp_path)))


def test_alpaca_entries_tolerate_sharegpt_tags_like_llamafactory(tmp_path, session, caplog):
    write_jsonl(tmp_path / "d.jsonl", [{"instruction": "q", "output": "a"}])
    write_json(
        tmp_path / "dataset_info.json",
        {"mine": {"file_name": "d.jsonl", "tags": {"role_tag": "role"}}},
    )
    with caplog.at_level(logging.WARNING):
        records, _ = load_dataset("mine", session, config=DataConfig(dataset_dir=str(tmp_path)))
    assert len(records) == 1 and "'tags' does not apply to 'alpaca'" in caplog.text


def test_num_samples_is_a_seeded_sample_and_max_samples_caps_each_dataset(tmp_path, session):
    write_jsonl(tmp_path / "d.jsonl", [{"text": f"doc {i}"} for i in range(10)])
    write_json(
        tmp_path / "dataset_info.json",
        {
            "few": {"file_name": "d.jsonl", "columns": {"prompt": "text"}, "num_samples": 4},
            "many": {"file_name": "d.jsonl", "columns": {"prompt": "text"}, "num_samples": 13},
        },
    )
    config = DataConfig(dataset_dir=str(tmp_path))
    few, _ = load_dataset("few", session, config=config)
    assert len(few) == 4 and len({r.text for r in few}) == 4
    assert [r.text for r in load_dataset("few", session, config=config)[0]] == [r.text for r in few]
    many, _ = load_dataset("many", session, config=config)
    assert len(many) == 13 and len({r.text for r in many}) == 10  # all, then repeats
    capped, _ = load_dataset(
        "few", session, config=DataConfig(dataset_dir=str(tmp_path), max_samples=2)
    )
    assert len(capped) == 2


# -- present.json -------------------------------------------------------------------------


def make_present(tmp_path):
    for part, count in (("train", 6), ("dev", 2), ("test", 3)):
        write_jsonl(
            tmp_path / f"{part}.jsonl",
            [{"instruction": f"{part} {i}", "output": "ok"} for i in range(count)],
        )
    return write_json(
        tmp_path / "present.json",
        {"qa": {"train": "train.jsonl", "dev": "dev.jsonl", "test": "test.jsonl"}},
    )


def test_present_json_gives_train_dev_and_test(tmp_path, session):
    registry = make_present(tmp_path)
    data = load_datasets(DataConfig(registry=str(registry), train=["qa"]), session)
    assert (len(data.train), len(data.eval), len(data.test)) == (6, 2, 3)
    assert data.eval[0].messages[0].content == "dev 0"
    assert [report.part for report in data.report.datasets] == ["train", "dev", "test"]
    with pytest.raises(ConfigError, match="val_size splits the training data"):
        load_datasets(DataConfig(registry=str(registry), train=["qa"], val_size=0.5), session)


def test_present_json_unknown_keys_suggest(tmp_path):
    registry = read_registry(write_json(tmp_path / "present.json", {"qa": {"tset": "t.jsonl"}}))
    with pytest.raises(ConfigError, match=r"tset: unknown key \(did you mean 'test'\?\)"):
        registry.get("qa")


def test_dataset_dir_finds_the_registry_and_a_plain_path_still_works(tmp_path, session):
    make_present(tmp_path)
    config = DataConfig(dataset_dir=str(tmp_path), train=["qa", "dev.jsonl"], eval=["qa"])
    data = load_datasets(config, session)
    assert len(data.train) == 8 and len(data.eval) == 2
    with pytest.raises(ConfigError, match=r"'qaa': not in .*present.json \(did you mean 'qa'\?\)"):
        load_datasets(DataConfig(dataset_dir=str(tmp_path), train=["qaa"]), session)


# -- val_size, mixing, config forms -------------------------------------------------------


@needs_fixtures
def test_val_size_split_is_deterministic_per_seed(session):
    def split(seed):
        data = load_datasets(lf_config(train=["identity"], val_size=0.1, seed=seed), session)
        return [r.origin for r in data.train], [r.origin for r in data.eval]

    train, dev = split(7)
    assert (len(train), len(dev)) == (81, 10)  # ceil(91 * 0.1)
    assert not set(train) & set(dev)
    assert split(7) == (train, dev)
    assert split(8)[1] != dev
    assert train == sorted(train, key=lambda origin: int(origin.rsplit("[", 1)[1][:-1]))


def test_datasets_mix_in_config_order_or_interleaved(tmp_path, session):
    write_jsonl(tmp_path / "a.jsonl", [{"text": f"a{i}"} for i in range(3)])
    write_jsonl(tmp_path / "b.jsonl", [{"text": f"b{i}"} for i in range(1)])
    base = {"dataset_dir": str(tmp_path), "train": ["a.jsonl", "b.jsonl"]}
    concat = load_datasets(DataConfig(**base), session).train
    assert [r.text for r in concat] == ["a0", "a1", "a2", "b0"]
    mixed = load_datasets(DataConfig(**base, mix="interleave"), session).train
    assert [r.text for r in mixed] == ["a0", "b0", "a1", "a2"]


def test_dataset_specs_override_format_and_columns(tmp_path, session):
    write_jsonl(tmp_path / "qa.jsonl", [{"question": "q", "reply": "a", "id": 1}])
    config = load_config(
        None,
        [
            f"data.train=[{{path: {tmp_path / 'qa.jsonl'}, format: alpaca, "
            "columns: {prompt: question, response: reply}}]",
        ],
    ).data
    (record,) = load_datasets(config, session).train
    assert [m.content for m in record.messages] == ["q", "a"] and record.meta == {"id": 1}
    assert config.model_dump(mode="json")["train"][0]["format"] == "alpaca"
    assert DataConfig(train=["x"]).model_dump()["train"] == ["x"]  # bare names stay bare
    with pytest.raises(ConfigError, match="exactly one of name"):
        load_config(None, ["data.train=[{name: a, path: b}]"])
    assert DatasetSpec.model_validate("x") == "x"


def test_data_loader_applies_to_files_without_a_format(tmp_path, session):
    write_jsonl(tmp_path / "ct.jsonl", [{"q": "c", "a": "t"}])
    config = DataConfig(
        dataset_dir=str(tmp_path),
        train=["ct.jsonl"],
        loader={"name": "context_target", "columns": {"prompt": "q", "response": "a"}},
    )
    (record,) = load_datasets(config, session).train
    assert record.messages[1].content == "t"


def test_a_relative_registry_path_is_relative_to_dataset_dir(tmp_path, session):
    make_present(tmp_path)
    config = DataConfig(dataset_dir=str(tmp_path), registry="present.json", train=["qa"])
    assert len(load_datasets(config, session).train) == 6
