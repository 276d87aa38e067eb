"""Dataset folders on the Hugging Face hub: ``data.dataset_dir: hf://owner/name``.

LLaMA-Factory's ``dataset_dir: REMOTE:owner/name`` names such a repository: a dataset
folder (its ``dataset_info.json`` and the files it names) kept on the hub. plugtune
fetches the repository once with ``huggingface_hub.snapshot_download`` into the hub's
cache — the way transformers fetches a model — and reads the snapshot as a local
folder, so every later run, and every run with ``HF_HUB_OFFLINE=1``, reads the cached
copy without the network. Entries inside that name a hub dataset of their own
(``hf_hub_url``) are refused as they are in a local folder.
"""

from __future__ import annotations

from pathlib import Path

from plugtune.core.errors import ConfigError

#: The prefix of a dataset folder on the hub.
HUB_SCHEME = "hf://"


def dataset_folder(dataset_dir: str) -> Path:
    """The local folder of ``dataset_dir``: itself, or the cached snapshot of a hub
    dataset repository (downloaded first if it is not cached)."""
    if not dataset_dir.startswith(HUB_SCHEME):
        return Path(dataset_dir)
    repo = dataset_dir.removeprefix(HUB_SCHEME).strip("/")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo, repo_type="dataset"))
    except OSError as error:  # not found, offline without a cached copy, no network
        raise ConfigError(
            f"data.dataset_dir: {dataset_dir}: the Hugging Face dataset repository {repo!r} "
            f"is neither in the local cache nor reachable ({type(error).__name__}: "
            f"{str(error).splitlines()[0]}); download it (`hf download {repo} "
            "--repo-type dataset`) or name a local folder"
        ) from None
