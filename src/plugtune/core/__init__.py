"""The core: hookspecs, plugins, registries, sessions, the run config, records and
interfaces. It imports nothing above it, and no heavy ML library.

:data:`PUBLIC` names what plugin authors may import from it (docs/plugins.md, "What a
plugin may import"); with ``plugtune.__all__`` and ``plugtune.sdk.__all__`` it is the
surface a release keeps: a name leaves only through :mod:`plugtune.core.moved`.
"""

PUBLIC: dict[str, tuple[str, ...]] = {
    "plugtune.core.config": (
        "AgentConfig", "BenchmarkConfig", "ComponentRef", "DataConfig", "DatasetSpec",
        "EvaluationConfig", "GenerationConfig", "ModelConfig", "OutputConfig", "PeftConfig",
        "PluginsConfig", "QuantizationConfig", "RayConfig", "RewardRef", "RunConfig",
        "TrainingConfig"),
    "plugtune.core.errors": (
        "ConfigError", "DuplicateComponentError", "PluginError", "PlugtuneError",
        "UnknownComponentError"),
    "plugtune.core.hookspecs": ("hookimpl",),
    "plugtune.core.interfaces": (
        "AnswerLoss", "AnswerScorer", "Backend", "BenchmarkLayout", "ChatTemplate",
        "ConfigReader", "Environment", "Exporter", "Loader", "Metric", "MetricScores",
        "ModelMetric", "OwnsReward", "PeftMethod", "PreparesRows", "ReadConfig", "Register",
        "Retriever", "Reward", "SampleMetric", "ScoringBackend", "Segment",
        "TakesFlatBatches", "Trainer", "TrainingRun", "WritesJinja"),
    "plugtune.core.records": (
        "Conversation", "LabeledCompletion", "Message", "Passage", "Preference",
        "RecordError", "Text", "ToolCall", "prompt_and_reference"),
    "plugtune.core.validation": ("did_you_mean", "validate_model"),
}
