"""Every reach into an upstream library's internals, in one place.

plugtune overrides private methods of transformers' and TRL's trainers, reads their
undocumented attributes, relies on the layout of tuples they return, calls functions of
their internal modules by keyword, and patches llama.cpp's converter and reads
sacrebleu's per-sample statistics. Each such reach is a bet on an upstream version, so
each lives here, one module per upstream, with a docstring naming the versions it was
checked against, and is pinned by a contract test (tests/test_compat_contracts.py) that
fails naming the entry when upstream changes shape. Nothing outside this package touches
an upstream ``_private`` name (tests/test_architecture.py enforces it). A version bump
is then: run the contract tests, fix the entries they name.

- :mod:`.transformers` — the Trainer's sampler and token-count hooks and its loss
  settings, a config's attention implementation, SDPA's forward and mask functions, a
  processor built without its video processor, a model file that may be missing;
- :mod:`.trl` — trainers taking plugtune's tokenized rows (``_prepare_dataset``,
  ``tokenize_row``), ORPO's ``concatenated_forward`` layout, KTO's KL switch, the
  reference adapter's name and the fused LM-head call;
- :mod:`.peft` — a new LoRA adapter starting as the identity;
- :mod:`.llamacpp` — the converter's pre-tokenizer lookup and GGUF header writing;
- :mod:`.sacrebleu` — per-sample sufficient statistics.

Checked against: transformers 5.23.0, TRL 1.16.0, PEFT 0.21.2, gguf-py 0.19.0 and the
llama.cpp converter that llama-cpp-python 0.3.36 vendors, sacrebleu 2.6.0.

The layer: compat imports the upstreams and nothing of plugtune, so it sits right above
the core and below the SDK — the SDK's processor loading (a vision backend's helper)
needs one of its entries, and the library and the plugins use the rest.
"""
