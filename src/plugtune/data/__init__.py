"""Everything between a user's files and canonical records (docs/data.md).

``load_datasets(config.data, session)`` is the entry point: it resolves dataset names
through a registry (LLaMA-Factory's ``dataset_info.json`` or ``present.json``) or as
files, reads them (``files``), converts rows with the loader plugins, applies the
``on_bad_record`` policy, samples, mixes and splits. ``tokenizer_and_template`` gives a
run's tokenizer and chat template (``stop_token_ids``: the ids a backend stops on), and
``encode_conversations`` turns conversations into ids and labels. The core never imports
this package; importing it imports no torch, pyarrow or datasets.
"""

from __future__ import annotations

from plugtune.data.datasets import LoadedData, load_dataset, load_datasets
from plugtune.data.detect import detect_format
from plugtune.data.encoding import EncodedExample, EncodingOptions, encode_conversations
from plugtune.data.files import SourceRow, read_rows
from plugtune.data.registries import DatasetEntry, DatasetRegistry, read_registry
from plugtune.data.report import DatasetReport, LoadReport
from plugtune.data.splits import mix, sample, split
from plugtune.data.templates import resolve_template, stop_token_ids, tokenizer_and_template

__all__ = [
    "DatasetEntry",
    "DatasetRegistry",
    "DatasetReport",
    "EncodedExample",
    "EncodingOptions",
    "LoadReport",
    "LoadedData",
    "SourceRow",
    "detect_format",
    "encode_conversations",
    "load_dataset",
    "load_datasets",
    "mix",
    "read_registry",
    "read_rows",
    "resolve_template",
    "sample",
    "split",
    "stop_token_ids",
    "tokenizer_and_template",
]
