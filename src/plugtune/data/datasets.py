"""The public entry point: a ``data`` config section → train / eval / test records.

Each dataset is resolved (registry entry, or file or folder), read row by row, converted
by its loader plugin under the ``on_bad_record`` policy, sampled (``num_samples``,
``max_samples``), then the datasets of a part are mixed in config order. Evaluation
records come from ``data.eval``, else from the registry's dev files, else from a
``val_size`` split; test records likewise from ``data.test`` or the registry.

:class:`RecordStreams` gives the same records as streams, read as they are used (a
corpus larger than memory is never held whole); :func:`load_datasets` lists them.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from plugtune.core.config import ComponentRef, DataConfig, DatasetSpec
from plugtune.core.errors import ConfigError, PlugtuneError
from plugtune.core.records import Record, RecordError
from plugtune.core.session import Session
from plugtune.core.validation import did_you_mean
from plugtune.data.detect import detect_format, is_pretraining
from plugtune.data.files import SourceRow, read_rows
from plugtune.data.hub import dataset_folder
from plugtune.data.registries import DatasetEntry, DatasetRegistry, Part, read_registry
from plugtune.data.report import BadRecords, DatasetReport, LoadReport, log
from plugtune.data.splits import mix_streams, sample, split

REGISTRY_FILES = ("dataset_info.json", "present.json")


@dataclass(frozen=True)
class LoadedData:
    """The records of a run, and what loading them skipped."""

    train: list[Record]
    eval: list[Record]
    test: list[Record] = field(default_factory=list)
    report: LoadReport = field(default_factory=LoadReport)


@dataclass(frozen=True)
class Source:
    """One dataset part, resolved: where its rows are and which loader reads them.

    ``loader`` None means "detect from the first row" (``options`` still apply);
    ``llamafactory`` marks a LLaMA-Factory entry, whose alpaca formatting may really
    describe pretraining text and whose options may not all apply to its format.
    """

    label: str
    part: Part
    path: Path
    loader: str | None
    options: dict[str, Any]
    media_dir: Path
    split: str = "train"
    num_samples: int | None = None
    max_samples: int | None = None
    llamafactory: bool = False


class RecordStreams:
    """The records of each part of a ``data`` section, read afresh at every call.

    Each call reads the files again (``val_size`` counts the records in one pass and
    splits them in the next); only the call given a ``report`` logs what it skipped."""

    def __init__(self, config: DataConfig, session: Session) -> None:
        self.config, self.session = config, session
        self.resolver = Resolver(config)
        eval_specs, test_specs = config.eval, config.test
        if not eval_specs:
            eval_specs = [spec for spec in config.train if self.resolver.has_part(spec, "dev")]
        if not test_specs:
            test_specs = [s for s in config.train if self.resolver.has_part(s, "test")]
        if eval_specs and config.val_size > 0:
            raise ConfigError(
                "data: val_size splits the training data, but evaluation data is given "
                f"({', '.join(spec.label for spec in eval_specs)}); set val_size: 0 or drop it"
            )
        self.specs: dict[str, tuple[list[DatasetSpec], Part]] = {
            "train": (config.train, "train"), "eval": (eval_specs, "dev"),
            "test": (test_specs, "test")}

    def has(self, name: str) -> bool:
        """Whether the part names any dataset (``eval``: not counting a val_size split)."""
        return bool(self.specs[name][0])

    def records(self, name: str, report: LoadReport | None = None) -> Iterator[Record]:
        """The records of part ``name`` (train, eval or test), mixed in config order."""
        specs, part = self.specs[name]
        sources = [self.resolver.resolve(spec, part) for spec in specs]
        return mix_streams([source_records(s, self.session, self.config, report)
                            for s in sources], self.config.mix)


def load_datasets(config: DataConfig, session: Session) -> LoadedData:
    """Every record the config names, deterministic for a given config and seed."""
    streams = RecordStreams(config, session)
    report = LoadReport()
    train = list(streams.records("train", report))
    evaluation = list(streams.records("eval", report))
    if config.val_size > 0:
        train, evaluation = split(train, config.val_size, config.seed)
    return LoadedData(train, evaluation, list(streams.records("test", report)), report)


def load_dataset(
    spec: DatasetSpec | str | Mapping[str, Any],
    session: Session,
    *,
    config: DataConfig | None = None,
    part: Part = "train",
) -> tuple[list[Record], DatasetReport]:
    """One dataset (a registry name, a file or folder, or a spec) under ``config``'s
    registry and policy: its records and its report."""
    config = config or DataConfig()
    report = LoadReport()
    source = Resolver(config).resolve(DatasetSpec.model_validate(spec), part)
    records = list(source_records(source, session, config, report))
    return records, report.datasets[-1]


class Resolver:
    """Turns dataset specs into sources: the registry first, then paths."""

    def __init__(self, config: DataConfig) -> None:
        self.config = config
        self._registry: DatasetRegistry | None = None
        self._registry_read = False

    @functools.cached_property
    def base(self) -> Path:
        """``data.dataset_dir`` as a local folder (a hub repository's cached snapshot)."""
        return dataset_folder(self.config.dataset_dir) if self.config.dataset_dir else Path()

    @property
    def registry(self) -> DatasetRegistry | None:
        """``data.registry``, else a dataset_info.json / present.json in ``dataset_dir``."""
        if not self._registry_read:
            self._registry_read = True
            path = self.base / self.config.registry if self.config.registry else None
            if path is None and self.config.dataset_dir:
                path = next((p for f in REGISTRY_FILES if (p := self.base / f).is_file()), None)
            dataset_dir = self.base if self.config.dataset_dir else None
            self._registry = read_registry(path, dataset_dir=dataset_dir) if path else None
        return self._registry

    def entry(self, spec: DatasetSpec) -> DatasetEntry | None:
        registry = self.registry
        if spec.name is None or registry is None or spec.name not in registry:
            return None
        return registry.get(spec.name)

    def has_part(self, spec: DatasetSpec, part: Part) -> bool:
        entry = self.entry(spec)
        return entry is not None and part in entry.parts

    def resolve(self, spec: DatasetSpec, part: Part) -> Source:
        entry = self.entry(spec)
        if entry is not None:
            # A LLaMA-Factory entry is one file whichever part lists it.
            path = entry.path(part if entry.formatting is None else "train")
            media_dir = self.registry.base if self.registry else path.parent
        else:
            path = self._path(spec)
            media_dir = path if path.is_dir() else path.parent
        loader, options = self._loader(spec, entry)
        return Source(
            label=spec.label,
            part=part,
            path=path,
            loader=loader,
            options=options,
            media_dir=media_dir,
            split=spec.split or (entry.split if entry else "train"),
            num_samples=entry.num_samples if entry else None,
            max_samples=spec.max_samples or self.config.max_samples,
            llamafactory=loader is not None and spec.format is None and entry is not None,
        )

    def _path(self, spec: DatasetSpec) -> Path:
        raw = Path(spec.path if spec.path is not None else str(spec.name))
        path = raw if raw.is_absolute() else self.base / raw
        if path.exists():
            return path
        registry = self.registry
        if spec.name is not None and registry is not None:
            hint = did_you_mean(spec.name, registry.names())
            where = f"not in {registry.path}{hint}, and"
        else:
            where = "there is no registry, and"
        raise ConfigError(f"dataset {spec.label!r}: {where} no such file or folder: {path}")

    def _loader(
        self, spec: DatasetSpec, entry: DatasetEntry | None
    ) -> tuple[str | None, dict[str, Any]]:
        """The loader and its options: the spec's format, else the registry entry's
        formatting (with its columns, tags and ranking), else ``data.loader``, else
        detection; the spec's columns, tags and ranking apply on top."""
        name: str | None = None
        options: dict[str, Any] = {}
        if spec.format is not None:
            name, options = spec.format.name, dict(spec.format.options)
        elif entry is not None and entry.formatting is not None:
            name = entry.formatting
            options = {"columns": dict(entry.columns), "tags": dict(entry.tags)}
            options["ranking"] = entry.ranking
        elif self.config.loader is not None:
            name, options = self.config.loader.name, dict(self.config.loader.options)
        given = {"columns": spec.columns, "tags": spec.tags}
        if spec.ranking is not None:
            given["ranking"] = spec.ranking
        return name, merge_options(options, given)


def merge_options(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``extra`` over ``base``; the ``columns`` and ``tags`` mappings merge key by key."""
    merged = dict(base)
    for key, value in extra.items():
        if key in ("columns", "tags"):
            if value:
                merged[key] = {**merged.get(key, {}), **value}
        else:
            merged[key] = value
    return merged


def source_records(
    source: Source, session: Session, config: DataConfig, report: LoadReport | None = None
) -> Iterator[Record]:
    """The records of one source under the config's policy, converted as they are read;
    its report is appended to ``report`` (and logged) when one is given. A source with
    ``num_samples`` (a registry option) is sampled from all of its records, in memory."""
    dataset = DatasetReport(source.label, source.part, str(source.path))
    if report is not None:
        report.datasets.append(dataset)
    bad = BadRecords(config.on_bad_record, dataset)
    rows = read_rows(source.path, split=source.split, on_bad_row=bad)
    first, rows = _peek(rows)
    ref = _choose_loader(source, first)
    dataset.loader = ref.name
    loader = _build(session, ref, source)
    records: Iterator[Record] = (
        record for row in rows if (record := _convert(loader, ref.name, row, bad)) is not None)
    if source.num_samples is not None:
        chosen = sample(list(records), source.num_samples, config.seed)[: source.max_samples]
        records = iter(chosen)
    elif source.max_samples is not None:
        records = itertools.islice(records, source.max_samples)
    for record in records:
        dataset.loaded += 1
        yield record
    _finish(source, dataset, bad, log_it=report is not None)


def _finish(source: Source, dataset: DatasetReport, bad: BadRecords, *, log_it: bool) -> None:
    """A source read to its end: log what it skipped; no usable record is an error."""
    if log_it:
        bad.log()
    if not dataset.loaded:
        reasons = "; ".join(dataset.reasons) or "the source is empty"
        where = f"dataset {source.label!r} ({source.path})"
        raise ConfigError(f"{where}: no usable records: {reasons}")
    if log_it:
        log.info("%s", dataset.describe())


def _convert(loader: Any, name: str, row: SourceRow, bad: BadRecords) -> Record | None:
    """One row through the loader; a loader bug is a bad record too, never a traceback."""
    try:
        return loader.convert(row.data, row.origin)
    except RecordError as error:
        bad(error)
    except PlugtuneError:
        raise
    except Exception as error:  # a third-party loader must not crash the run
        bad(RecordError(row.origin, "", f"the {name!r} loader failed: {error!r}"))
    return None


def _peek(rows: Iterator[SourceRow]) -> tuple[Any, Iterator[SourceRow]]:
    """The first row that is an object (to detect the format from), and all rows."""
    seen: list[SourceRow] = []
    for row in rows:
        seen.append(row)
        if isinstance(row.data, Mapping):
            return row.data, itertools.chain(seen, rows)
    return None, iter(seen)


def _choose_loader(source: Source, first: Any) -> ComponentRef:
    if source.loader is None:
        name, detected = detect_format(first, source.path)
        return ComponentRef(name=name, **merge_options(detected, source.options))
    options = source.options
    if source.llamafactory and source.loader == "alpaca":
        columns = options.get("columns", {})
        if is_pretraining(columns, bool(options.get("ranking")), first, source.path):
            return ComponentRef(name="text", columns={"prompt": columns.get("prompt", "text")})
    return ComponentRef(name=source.loader, **options)


def _build(session: Session, ref: ComponentRef, source: Source) -> Any:
    """The loader, with ``media_dir`` defaulted to the dataset's folder; options a
    registry entry gives that the loader does not take (``tags`` on an alpaca entry,
    which LLaMA-Factory ignores too) are dropped with a warning."""
    component = session.component("loaders", ref)
    options = dict(ref.options)
    fields = component.options_model.model_fields if component.options_model else {}
    if source.llamafactory:
        for key in [key for key in options if key not in fields]:
            if options.pop(key) not in ({}, False, None):
                log.warning("%s: %r does not apply to %r; ignored", source.label, key, ref.name)
    if "media_dir" in fields and options.get("media_dir") is None:
        options["media_dir"] = str(source.media_dir)
    try:
        return component.build(options)
    except ConfigError as error:
        raise ConfigError(f"dataset {source.label!r}: {error}") from None
