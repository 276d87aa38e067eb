"""`make wordnet` (meteor --install): Debian's files, apt-get download, loud failures."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from plugtune.core.errors import PlugtuneError
from plugtune.plugins.metrics import wordnet

APT_DEBS = sorted(Path("/var/cache/apt/archives").glob("wordnet-base_*.deb"))


@pytest.fixture
def no_local_source(monkeypatch, tmp_path):
    monkeypatch.setattr(wordnet, "DEBIAN_WORDNET", tmp_path / "no-debian")
    monkeypatch.setattr(wordnet, "ENVIRONMENT_WORDNET", tmp_path / "no-env")
    monkeypatch.setattr(wordnet, "APT_ARCHIVES", tmp_path / "no-archives")


def _fake_apt_get(folder, script):
    folder.mkdir()
    (folder / "apt-get").write_text(f"#!/bin/sh\n{script}\n", encoding="utf-8")
    (folder / "apt-get").chmod(0o755)
    return str(folder)


@pytest.mark.slow
def test_install_downloads_the_deb_with_apt_get_when_there_is_none(
    monkeypatch, tmp_path, no_local_source
):
    if not APT_DEBS:
        pytest.skip("no wordnet-base .deb in apt's cache to play the repository's part")
    repository = tmp_path / "repository"
    repository.mkdir()
    shutil.copyfile(APT_DEBS[-1], repository / "wordnet-base_3.0-37_all.deb")
    bin_dir = _fake_apt_get(
        tmp_path / "bin",
        f'[ "$1 $2" = "download wordnet-base" ] && cp {repository}/wordnet-base_*.deb .')
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    dest = wordnet.install_wordnet(tmp_path / "nltk" / "wordnet")
    assert dest == tmp_path / "nltk" / "wordnet" and wordnet.is_wordnet_dir(dest)


def test_a_failed_download_is_a_loud_error(monkeypatch, tmp_path, no_local_source, capsys):
    bin_dir = _fake_apt_get(tmp_path / "bin", 'echo "E: Unable to locate package" >&2; exit 100')
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    with pytest.raises(PlugtuneError, match="apt-get download wordnet-base failed.*exit 100"):
        wordnet.install_wordnet(tmp_path / "wordnet")
    assert wordnet.main(["--install"]) == 1
    assert "FAILED" in capsys.readouterr().err


def test_without_apt_get_install_skips_and_says_so(monkeypatch, tmp_path, no_local_source,
                                                    capsys):
    monkeypatch.setattr(wordnet.shutil, "which", lambda name: None)
    assert wordnet.install_wordnet(tmp_path / "wordnet") is None
    assert wordnet.main(["--install"]) == 0
    assert "skipped" in capsys.readouterr().err


@pytest.mark.slow
def test_a_wordnet_that_cannot_match_synonyms_fails_the_check(tmp_path, monkeypatch):
    source = wordnet.debian_wordnet_source()
    if source is None:
        pytest.skip("no Debian WordNet here (no apt-get)")
    folder = wordnet.setup_wordnet(source, tmp_path / "wordnet")
    # "auto" no longer a noun: the synonym match is lost
    index = folder / "index.noun"
    index.write_text("".join(line for line in index.read_text(encoding="utf-8")
                             .splitlines(keepends=True) if not line.startswith("auto ")),
                     encoding="utf-8")
    wordnet._reader.cache_clear()
    with pytest.raises(PlugtuneError, match="does not match WordNet synonyms"):
        wordnet.install_wordnet(folder)
