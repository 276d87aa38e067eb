"""Run configs: files, overrides, unknown keys, component options, schema."""

from __future__ import annotations

import json

import pytest
import yaml

from plugtune import ConfigError, RunConfig, Session, config_schema, load_config
from plugtune.core.config import apply_overrides


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_text(json.dumps(data) if name.endswith(".json") else yaml.safe_dump(data))
    return path


def test_yaml_and_json_files_give_the_same_config(tmp_path):
    data = {"model": {"path": "tiny://llama"}, "training": {"learning_rate": 5e-5}}
    from_yaml = load_config(write(tmp_path, "run.yaml", data))
    from_json = load_config(write(tmp_path, "run.json", data))
    assert from_yaml == from_json
    assert from_yaml.model.path == "tiny://llama"
    assert from_yaml.training.learning_rate == 5e-5
    assert from_yaml.peft.type == "lora"  # defaults fill the rest


def test_overrides_are_parsed_as_yaml_and_create_sections(tmp_path):
    path = write(tmp_path, "run.yaml", {"training": {"seed": 1}})
    config = load_config(
        path,
        [
            "training.seed=7",
            "data.train=[alpaca_en_demo, identity]",
            "quantization.bits=8",
            "model.adapter=out/sft",
            "template=qwen",
        ],
    )
    assert config.training.seed == 7
    assert config.data.train == ["alpaca_en_demo", "identity"]
    assert config.quantization is not None and config.quantization.bits == 8
    assert config.model.adapter == "out/sft"
    assert config.template is not None and config.template.name == "qwen"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("training.seed", "expected KEY=VALUE"),
        ("model.path.x=1", "'path' is not a section"),
        ("model.path=[unclosed", "not valid YAML"),
    ],
)
def test_malformed_overrides_are_clear_errors(override, message):
    with pytest.raises(ConfigError, match=message):
        apply_overrides({"model": {"path": "tiny://qwen2"}}, [override])


def test_unknown_keys_are_rejected_with_a_suggestion_and_the_file_name(tmp_path):
    path = write(tmp_path, "run.yaml", {"model": {"pth": "x"}, "data": {"cutof_len": 3}})
    with pytest.raises(ConfigError) as error:
        load_config(path)
    message = str(error.value)
    assert message.startswith(f"{path}: invalid configuration")
    assert "model.pth: unknown key (did you mean 'path'?)" in message
    assert "data.cutof_len: unknown key (did you mean 'cutoff_len'?)" in message


def test_an_unknown_section_without_a_close_match_lists_the_known_keys(tmp_path):
    with pytest.raises(ConfigError, match=r"zzz: unknown key; known keys: model, data"):
        load_config(None, ["zzz=1"])


def test_wrong_types_and_ranges_name_the_key():
    with pytest.raises(ConfigError, match=r"data.val_size: Input should be less than 1"):
        load_config(None, ["data.val_size=1.5"])
    # A peft method is a plugin with its own options model, checked by the session.
    from plugtune import Session
    from plugtune.core.errors import UnknownComponentError

    session = Session()
    with pytest.raises(ConfigError, match=r"peft: peft 'lora'.*\n  r: Input should be greater"):
        session.validate(load_config(None, ["peft.r=0"]))
    with pytest.raises(UnknownComponentError,
                       match=r"peft: no peft named 'lorra' \(did you mean 'lora'"):
        session.validate(load_config(None, ["peft.type=lorra"]))
    with pytest.raises(ConfigError, match=r"peft 'freeze'.*\n  r: unknown key"):
        session.validate(load_config(None, ["peft.type=freeze", "peft.r=4"]))
    resolved = session.validate(load_config(None, ["peft.type=dora"]))
    assert resolved.model_dump()["peft"] == {"type": "dora", "r": 8, "alpha": 16, "dropout": 0.0,
                                            "target": "all", "modules_to_save": [],
                                            "freeze_vision_tower": True,
                                            "freeze_multi_modal_projector": True,
                                            "train_mm_proj_only": False}


def test_unreadable_and_malformed_files_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="missing.yaml: cannot read config"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid yaml"):
        load_config(bad)
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="list.yaml: the top level must be a mapping"):
        load_config(listing)


def test_training_passes_other_trainingarguments_fields_through():
    config = load_config(None, ["training.lr_scheduler_type=cosine", "training.warmup_ratio=0.1"])
    assert config.training.model_extra == {"lr_scheduler_type": "cosine", "warmup_ratio": 0.1}


def test_component_refs_take_a_name_or_a_mapping_with_options():
    config = RunConfig.model_validate(
        {
            "template": "qwen",
            "rewards": ["length", {"name": "format", "weight": 0.5, "pattern": "<a>"}],
            "callbacks": [{"name": "early_stopping", "patience": 2}],
        }
    )
    assert config.template.options == {}
    assert config.rewards[1].weight == 0.5 and config.rewards[1].options == {"pattern": "<a>"}
    dumped = config.model_dump(mode="json")
    assert dumped["template"] == "qwen"  # a bare name stays a bare name
    assert dumped["callbacks"] == [{"name": "early_stopping", "patience": 2}]
    keys = [(key, kind) for key, kind, _ in config.component_refs()]
    assert keys == [
        ("peft", "peft"),
        ("template", "templates"),
        ("rewards[0]", "rewards"),
        ("rewards[1]", "rewards"),
        ("callbacks[0]", "callbacks"),
    ]


def test_the_session_validates_component_options_and_fills_defaults():
    config = load_config(None, ["callbacks=[{name: early_stopping, patience: 2}]"])
    resolved = Session().validate(config)
    assert resolved.callbacks[0].options == {"patience": 2, "threshold": 0.0, "metric": "eval_loss"}
    assert config.callbacks[0].options == {"patience": 2}  # the input is left alone
    typo = load_config(None, ["callbacks=[{name: early_stopping, patiense: 2}]"])
    with pytest.raises(ConfigError) as error:
        Session().validate(typo)
    assert "callbacks[0]: callbacks 'early_stopping'" in str(error.value)
    assert "patiense: unknown key (did you mean 'patience'?)" in str(error.value)


def test_the_session_rejects_unknown_components_with_a_suggestion():
    config = load_config(None, ["evaluation.metrics=[exact_mtch]"])
    expected = "no metric named 'exact_mtch' \\(did you mean 'exact_match'"
    with pytest.raises(Exception, match=expected):
        Session().validate(config)


def test_the_json_schema_describes_every_section():
    schema = config_schema()
    assert set(schema["properties"]) == set(RunConfig.model_fields)
    assert schema["additionalProperties"] is False
    json.dumps(schema)


def test_dataset_formats_are_component_refs_checked_by_the_session():
    config = load_config(None, ["data.train=[{path: a.jsonl, format: {name: alpca}}]"])
    keys = [(key, kind) for key, kind, _ in config.component_refs()]
    assert keys == [("peft", "peft"), ("data.train[0].format", "loaders")]
    with pytest.raises(Exception, match="no loader named 'alpca' \\(did you mean 'alpaca'"):
        Session().validate(config)


def test_template_auto_is_left_to_the_tokenizer():
    config = load_config(None, ["template=auto"])
    assert [key for key, _, _ in config.component_refs()] == ["peft"]
    assert Session().validate(config).template.name == "auto"
