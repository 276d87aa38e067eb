"""Settings for the vLLM tests, which run in .venv-vllm (make test-vllm), not the main suite.

Offline, built-in plugins only, tiny:// models in a private cache, and vLLM's CPU engine
with a 1 GiB KV cache and no usage reports.
"""

from __future__ import annotations

import os
import tempfile

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["PLUGTUNE_LOAD_PLUGINS"] = ""
os.environ.pop("PLUGTUNE_DISABLE_PLUGINS", None)
os.environ["PLUGTUNE_CACHE_DIR"] = tempfile.mkdtemp(prefix="plugtune-vllm-tests-")
os.environ["VLLM_CPU_KVCACHE_SPACE"] = "1"
os.environ["VLLM_NO_USAGE_STATS"] = "1"
os.environ["DO_NOT_TRACK"] = "1"
