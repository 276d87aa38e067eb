"""The run config: pydantic models, YAML/JSON files, ``--set a.b=c`` overrides, JSON schema.

A section naming a component (``template``, ``trainer``, ``rewards``, …) takes a name or
``{name: …, <options>}``; the component's own options model validates the options once
plugins are loaded (:meth:`plugtune.Session.validate`), so a new algorithm brings its
options without touching this file."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_serializer, model_validator

from plugtune.core.errors import ConfigError
from plugtune.core.validation import validate_model

DEFAULT_MODEL = "tiny://qwen2"
# ``template: auto`` (or none) is matched to the tokenizer when the data is prepared.
AUTO_TEMPLATE = "auto"


class Section(BaseModel):
    """A config section: unknown keys are errors (with a suggestion), never ignored.
    Validators are built on first use (``defer_build``): ``plugtune --help`` reads no config."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, defer_build=True)


class ComponentRef(BaseModel):
    """A component by name, plus its options: ``length`` or ``{name: length, target: 64}``;
    ``name`` may also be code: ``path/to/file.py:function`` or ``package.module:obj``."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    name: str = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    @property
    def options(self) -> dict[str, Any]:
        """The keys besides the declared fields: the component's own options."""
        return dict(self.model_extra or {})

    @model_serializer(mode="wrap")
    def _as_name_when_bare(self, handler: Any) -> Any:
        data = handler(self)
        return data["name"] if set(data) == {"name"} else data


class RewardRef(ComponentRef):
    """A reward and its weight in the total: ``{name: format, weight: 0.5, …options}``."""

    weight: float = 1.0


class ModelConfig(Section):
    path: str = Field(DEFAULT_MODEL, description="Local path, hub id, or tiny://<arch>.")
    revision: str | None = None
    adapter: str | None = Field(None, description="A PEFT adapter to load on top.")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    trust_remote_code: bool = Field(False, description="Run code shipped with the model.")
    allow_pickle: bool = Field(False, description="Allow non-safetensors (pickle) weights.")
    attention: str | None = Field(None, description="transformers' attn_implementation "
                                  "(sdpa, eager, flash_attention_2, …); None: its choice.")


def _string_or_object(schema: dict[str, Any]) -> None:
    """A model a plain string may stand for: JSON schema accepts both (for editors)."""
    described = {key: schema.pop(key) for key in ("title", "description") if key in schema}
    as_object = dict(schema)
    schema.clear()
    schema.update(described, anyOf=[{"type": "string"}, as_object])


class DatasetSpec(Section):
    """One dataset and its own settings; a plain string in a list is ``{name: …}`` (and
    compares equal to it). ``name``: a registry entry, else a file or folder; ``path``:
    always one. ``format`` (a loader) replaces the registry's ``formatting``; ``columns``,
    ``tags`` and ``ranking`` go to the loader."""

    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, json_schema_extra=_string_or_object)

    name: str | None = Field(None, min_length=1, description="Registry entry, file or folder.")
    path: str | None = Field(None, min_length=1, description="A file or folder.")
    format: ComponentRef | None = Field(None, description="Loader; None: registry or detected.")
    columns: dict[str, str | None] = Field(
        default_factory=dict, description="Logical column -> key in the rows (docs/data.md).")
    tags: dict[str, str] = Field(default_factory=dict, description="sharegpt role tags.")
    ranking: bool | None = Field(None, description="Rows are chosen/rejected pairs.")
    split: str | None = Field(None, description="Split of a saved DatasetDict folder.")
    max_samples: int | None = Field(None, gt=0, description="Overrides data.max_samples.")

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_source(self) -> DatasetSpec:
        if (self.name is None) == (self.path is None):
            raise ValueError("give exactly one of name (a registry entry or a path) and path")
        return self

    @property
    def label(self) -> str:
        """How messages refer to this dataset."""
        return self.name if self.name is not None else str(self.path)

    @property
    def is_bare(self) -> bool:
        return self.path is None and set(self.model_fields_set) <= {"name"}

    @model_serializer(mode="wrap")
    def _as_name_when_bare(self, handler: Any) -> Any:
        if self.is_bare:
            return self.name
        return {key: value for key, value in handler(self).items() if value not in (None, {})}

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return self.is_bare and self.name == other
        return super().__eq__(other)


class DataConfig(Section):
    """What to train, evaluate and test on, and how to read it (docs/data.md)."""

    train: list[DatasetSpec] = Field(
        default_factory=list, description="Dataset names, files or folders, mixed in order.")
    eval: list[DatasetSpec] = Field(
        default_factory=list, description="Empty: registry dev files, else val_size.")
    test: list[DatasetSpec] = Field(default_factory=list, description="Empty: registry test files.")
    dataset_dir: str | None = Field(
        None, description="Folder for relative paths and the default registry.")
    registry: str | None = Field(None, description="dataset_info.json or present.json.")
    loader: ComponentRef | None = Field(
        None, description="For datasets without a format of their own; None: detected.")
    max_samples: int | None = Field(None, gt=0, description="At most this many per dataset.")
    val_size: float = Field(0.0, ge=0.0, lt=1.0)
    seed: int = 42
    mix: Literal["concat", "interleave"] = Field(
        "concat", description="concat: one dataset after another; interleave: round-robin.")
    cutoff_len: int = Field(1024, gt=0, description="Longest example, in tokens.")
    overflow: Literal["truncate", "turns", "drop"] = Field(
        "truncate", description="Longer examples are cut at the end, cut per turn in "
        "proportion (LLaMA-Factory's way), or dropped (reported).")
    train_on: Literal["all", "last"] = Field("all", description="Assistant turns in the loss.")
    train_suffix: bool = Field(False, description="Also train what the template writes "
                               "after an answer's end-of-turn token (LLaMA-Factory does).")
    packing: bool = Field(False, description="Several examples per row, kept apart.")
    padding_free: bool | None = Field(None, description="A batch as one row, unpadded (sft, "
                                      "pt); None: where the model's attention is checked.")
    on_bad_record: Literal["error", "skip"] = "error"
    prepared: str | None = Field(
        None, description="Folder of encoded rows (plugtune data prepare): read if there, "
        "else encoded and saved there; a run that differs from it is an error.")
    image_max_pixels: int | None = Field(None, gt=0, description="Training images larger "
                                         "are scaled down to this many pixels first.")
    image_min_pixels: int | None = Field(None, gt=0, description="And smaller ones up.")
    streaming: bool = Field(False, description="Read and encode the data while training "
                            "(sft, pt; needs training.max_steps): no pass over it first.")
    buffer_size: int = Field(16384, ge=0, description="Streaming: records shuffled in a "
                             "buffer of this many (0 or 1: in file order).")


class PeftConfig(ComponentRef):
    """What trains: ``{type: lora, r: 16, …}`` (or just ``lora``). ``type`` names a
    ``peft`` plugin (lora, dora, qlora, freeze, full, or a plugin's method); the other
    keys are that method's options, validated by it."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    name: str = Field("lora", min_length=1, alias="type")

    @property
    def type(self) -> str:
        return self.name

    @model_serializer(mode="wrap")
    def _as_name_when_bare(self, handler: Any) -> Any:
        data = handler(self)
        return {"type": data.pop("name"), **data}


class QuantizationConfig(Section):
    """bitsandbytes quantization of the base model (QLoRA); ``peft.type: qlora`` implies it."""

    bits: Literal[4, 8] = 4
    quant_type: Literal["nf4", "fp4"] = "nf4"
    double_quant: bool = True
    compute_dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"


class TrainingConfig(Section):
    """plugtune's defaults for ``transformers.TrainingArguments``; any other of its fields
    may be given by its own name and is passed through (checked by the trainer)."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)

    num_train_epochs: float = Field(3.0, gt=0)
    max_steps: int = -1
    learning_rate: float = Field(1e-4, gt=0)
    per_device_train_batch_size: int = Field(8, gt=0)
    gradient_accumulation_steps: int = Field(1, gt=0)
    gradient_checkpointing: bool = False
    bf16: bool = False
    seed: int = 42
    logging_steps: int = Field(10, gt=0)
    resume_from_checkpoint: str | None = Field(
        None, description="auto: the newest complete checkpoint in output.dir; or a folder.")


class GenerationConfig(Section):
    max_new_tokens: int = Field(256, gt=0)
    temperature: float = Field(0.0, ge=0.0, description="0 means greedy decoding.")
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    top_k: int = Field(0, ge=0, description="0 disables top-k.")
    repetition_penalty: float = Field(1.0, gt=0.0)
    stop: list[str] = Field(default_factory=list)
    seed: int | None = Field(None, description="Seeds sampling (None: unseeded).")


class BenchmarkConfig(Section):
    """A multiple-choice benchmark folder for ``plugtune eval`` (docs/evaluation.md)."""

    path: str | None = Field(None, description="Folder in the C-Eval, MMLU or CMMLU layout.")
    layout: str | None = Field(
        None, description="A benchmarks plugin (ceval, mmlu, cmmlu, …); None: recognised.")
    split: str | None = Field(None, description="None: the layout's default split.")
    shots: int = Field(5, ge=0, description="Solved dev questions before each question.")
    subjects: list[str] | None = Field(None, description="None: every subject.")
    batch_size: int = Field(8, ge=1)
    chat: bool = Field(False, description="Render the prompt with the chat template.")


class EvaluationConfig(Section):
    metrics: list[ComponentRef] = Field(default_factory=list)
    language: str = "en"
    benchmark: BenchmarkConfig | None = None


class OutputConfig(Section):
    dir: str = "out"
    overwrite: bool = Field(False, description="Train into a folder that already has a run.")
    plot: bool = Field(True, description="Write loss curves (training_loss.png).")


class PluginsConfig(Section):
    paths: list[str] = Field(default_factory=list, description="file.py or module:obj.")
    prefer: dict[str, str] = Field(
        default_factory=dict, description="'<kind>.<name>': distribution that wins a clash.")


class RayConfig(Section):
    """``plugtune train`` under Ray Train (the ``ray`` extra; docs/training.md, Ray)."""

    workers: int = Field(1, ge=1, description="Ray Train workers, one process each.")
    address: str | None = Field(None, description="None: RAY_ADDRESS, else a local cluster.")
    use_gpu: bool | None = Field(None, description="None: GPU in resources, else CUDA here.")
    resources_per_worker: dict[str, float] = Field(default_factory=dict)
    placement_strategy: Literal["PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"] = "PACK"
    storage_path: str | None = Field(None, description="Ray's run state; None: ~/ray_results.")
    name: str | None = Field(None, description="Its folder there; None: Ray's dated name.")
    init_kwargs: dict[str, Any] = Field(default_factory=dict, description="For ray.init.")


class AgentConfig(Section):
    """Episodes with tools (docs/agents.md): the tools a model may call, in agentic GRPO
    and in ``predict``/``chat`` with the same config, so a trained agent is used the
    way it was trained. A record's ``environment`` column picks its own environment."""

    environment: ComponentRef | None = Field(
        None, description="The environment of every record without an `environment` column: "
                          "a name, or {name: …, options…}.")
    tools: list[str] = Field(
        default_factory=list, description="Stateless tools every episode gets: file.py:fn, "
                                          "module:fn.")
    max_tool_calls: int = Field(4, ge=0, description="Tool calls an episode may make.")
    tool_timeout: float = Field(10.0, gt=0, description="Seconds a tool call may take.")


class RunConfig(Section):
    """One run: what to load, how to train, generate and evaluate, and where to write."""

    model: ModelConfig = Field(default_factory=ModelConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    template: ComponentRef | None = Field(
        None, description="None or auto: recognised from the tokenizer's chat template.")
    trainer: ComponentRef | None = None
    peft: PeftConfig = Field(default_factory=PeftConfig)
    quantization: QuantizationConfig | None = None
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    rewards: list[RewardRef] = Field(default_factory=list)
    callbacks: list[ComponentRef] = Field(default_factory=list)
    backend: ComponentRef | None = None
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    retriever: ComponentRef | None = None
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    ray: RayConfig | None = Field(None, description="Train under Ray Train; None: not.")
    agent: AgentConfig | None = Field(None, description="Tools and environments; None: none.")
    plugins: PluginsConfig = Field(default_factory=PluginsConfig)

    def component_refs(self) -> Iterator[tuple[str, str, ComponentRef]]:
        """Every component the config names, as ``(config key, kind, ref)``."""
        bench = self.evaluation.benchmark
        layout = ComponentRef(name=bench.layout) if bench and bench.layout else None
        named: list[tuple[str, str, ComponentRef | None]] = [
            ("data.loader", "loaders", self.data.loader),
            ("peft", "peft", self.peft),
            ("evaluation.benchmark.layout", "benchmarks", layout),
            ("template", "templates", None if _is_auto(self.template) else self.template),
            ("trainer", "trainers", self.trainer),
            ("backend", "backends", self.backend),
            ("retriever", "retrievers", self.retriever),
            ("agent.environment", "environments", self.agent and self.agent.environment),
            *((f"rewards[{i}]", "rewards", ref) for i, ref in enumerate(self.rewards)),
            *((f"callbacks[{i}]", "callbacks", ref) for i, ref in enumerate(self.callbacks)),
            *((f"evaluation.metrics[{i}]", "metrics", ref)
              for i, ref in enumerate(self.evaluation.metrics)),
            *((f"data.{part}[{i}].format", "loaders", spec.format)
              for part in ("train", "eval", "test")
              for i, spec in enumerate(getattr(self.data, part))),
        ]
        return ((key, kind, ref) for key, kind, ref in named if ref is not None)


def _is_auto(ref: ComponentRef | None) -> bool:
    return ref is not None and ref.name == AUTO_TEMPLATE and not ref.options


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The mapping in a YAML or JSON file, with errors that name the file."""
    import yaml  # here, not at the top: ``plugtune --help`` reads no config

    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{path}: cannot read config ({error.strerror})") from None
    try:
        data = json.loads(text) if source.suffix == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as error:
        kind = source.suffix.lstrip(".") or "YAML"
        raise ConfigError(f"{path}: not valid {kind}: {error}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping, got {type(data).__name__}")
    return data


def apply_overrides(data: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``a.b=c`` overrides (values parsed as YAML) to a copy of ``data``."""
    import yaml

    result: dict[str, Any] = json.loads(json.dumps(data, default=str))
    for override in overrides:
        key, separator, raw_value = override.partition("=")
        if not separator or not key.strip():
            raise ConfigError(f"--set {override!r}: expected KEY=VALUE, e.g. training.seed=1")
        try:
            value = yaml.safe_load(raw_value) if raw_value.strip() else None
        except yaml.YAMLError as error:
            raise ConfigError(f"--set {override!r}: the value is not valid YAML: {error}") from None
        node = result
        parts = key.strip().split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set {override!r}: {part!r} is not a section")
            node = child
        node[parts[-1]] = value
    return result


def load_config(path: str | Path | None = None, overrides: Sequence[str] = ()) -> RunConfig:
    """Read, override and validate a run config in plugtune's format (component options
    are checked later, by the session). ``plugtune.load_config`` also reads other tools'
    formats, through ``config_readers`` plugins."""
    data = read_config_file(path) if path is not None else {}
    return run_config(data, overrides, str(path) if path is not None else "config")


def run_config(data: Mapping[str, Any], overrides: Sequence[str], where: str) -> RunConfig:
    """``data`` with ``a.b=c`` overrides applied, validated; errors name ``where``."""
    return validate_model(RunConfig, apply_overrides(data, overrides), where=where)


def config_schema() -> dict[str, Any]:
    """The JSON schema of a run config, for editors and validation tools."""
    return RunConfig.model_json_schema()
