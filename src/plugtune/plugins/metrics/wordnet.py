"""WordNet 3.0 for METEOR, found or set up without network.

nltk's METEOR matches words exactly, by Porter stem and by WordNet synonym, so it needs
WordNet 3.0. No PyPI package ships it; ``nltk.download("wordnet")`` needs network. This
module finds it, in order:

1. ``$PLUGTUNE_WORDNET`` (a folder holding nltk's ``wordnet`` corpus files);
2. nltk's own data path (``nltk.data.find("corpora/wordnet")``, ``$NLTK_DATA``);
3. plugtune's cache, ``<cache>/nltk_data/corpora/wordnet`` (``$PLUGTUNE_CACHE_DIR`` or
   ``~/.cache/plugtune``), made from (4) on first use;
4. Debian's ``wordnet-base`` files in ``/usr/share/wordnet`` (Princeton WordNet 3.0);
   nltk also reads ``lexnames`` and ``index.sense``, which that package lacks:
   :func:`setup_wordnet` writes ``lexnames`` (the fixed table of lexnames(5WN)) and
   derives ``index.sense`` from the data files, so ``wordnet-sense-index`` is optional.

Without root, ``apt-get download wordnet-base`` and then
``python -m plugtune.plugins.metrics.wordnet wordnet-base_*.deb`` fills the cache (3).
``python -m plugtune.plugins.metrics.wordnet --install`` (``make wordnet``, part of
``make install``) prepares it into the environment's own nltk data path (2), from
Debian's files or a .deb that ``apt-get download`` fetches, and checks METEOR with it.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import warnings
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from plugtune.core.errors import PlugtuneError

WORDNET_ENV_VAR = "PLUGTUNE_WORDNET"
DEBIAN_WORDNET = Path("/usr/share/wordnet")
APT_ARCHIVES = Path("/var/cache/apt/archives")
# On nltk's default data path ({sys.prefix}/share/nltk_data): found with no setting.
ENVIRONMENT_WORDNET = Path(sys.prefix) / "share" / "nltk_data" / "corpora" / "wordnet"
POS = ("noun", "verb", "adj", "adv")
_FILES = [f"{kind}.{pos}" for kind in ("data", "index") for pos in POS] + [
    f"{pos}.exc" for pos in POS
]
# lexnames(5WN): the lexicographer files, numbered from 00.
LEXNAMES = [
    "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal",
    "noun.artifact", "noun.attribute", "noun.body", "noun.cognition", "noun.communication",
    "noun.event", "noun.feeling", "noun.food", "noun.group", "noun.location", "noun.motive",
    "noun.object", "noun.person", "noun.phenomenon", "noun.plant", "noun.possession",
    "noun.process", "noun.quantity", "noun.relation", "noun.shape", "noun.state",
    "noun.substance", "noun.time", "verb.body", "verb.change", "verb.cognition",
    "verb.communication", "verb.competition", "verb.consumption", "verb.contact",
    "verb.creation", "verb.emotion", "verb.motion", "verb.perception", "verb.possession",
    "verb.social", "verb.stative", "verb.weather", "adj.ppl"
]
_SS_TYPE = {"n": 1, "v": 2, "a": 3, "r": 4, "s": 5}
_INSTALL_HINT = (
    "METEOR needs WordNet 3.0, and none was found (looked in ${env}, nltk's data path, "
    "{cache} and {debian}). Offline ways to get it: "
    "`apt-get install wordnet-base` (Debian/Ubuntu; plugtune prepares it on first use), or "
    "`apt-get download wordnet-base && python -m plugtune.plugins.metrics.wordnet "
    "wordnet-base_*.deb` (no root), or with network `python -m nltk.downloader wordnet`."
)


def wordnet_cache_dir() -> Path:
    """Where plugtune keeps the WordNet it prepares: ``<cache>/nltk_data/corpora/wordnet``."""
    root = os.environ.get("PLUGTUNE_CACHE_DIR")
    if not root:
        import platformdirs

        root = platformdirs.user_cache_dir("plugtune")
    return Path(root) / "nltk_data" / "corpora" / "wordnet"


def is_wordnet_dir(folder: Path) -> bool:
    """Whether ``folder`` holds everything nltk's WordNet reader opens."""
    needed = [*_FILES, "lexnames", "index.sense"]
    return all((folder / name).is_file() for name in needed)


def setup_wordnet(source: str | os.PathLike[str], dest: str | os.PathLike[str]) -> Path:
    """Make ``dest`` an nltk WordNet corpus folder from Princeton WordNet 3.0 files:
    ``source`` is a folder of them (Debian's ``/usr/share/wordnet``) or Debian's
    ``wordnet-base`` .deb. Writes ``lexnames`` and, unless the source has one,
    ``index.sense``. Returns ``dest``."""
    source, dest = Path(source), Path(dest)
    with tempfile.TemporaryDirectory() as tmp:
        if source.is_file():
            source = _unpack_deb(source, Path(tmp))
        missing = [name for name in _FILES if not (source / name).is_file()]
        if missing:
            raise PlugtuneError(
                f"{source}: not a WordNet 3.0 folder (missing {', '.join(missing)})"
            )
        staging = Path(tempfile.mkdtemp(prefix=".wordnet-", dir=_made(dest.parent)))
        try:
            for name in [*_FILES, "cntlist.rev", "index.sense"]:
                if (source / name).is_file():
                    shutil.copyfile(source / name, staging / name)
            (staging / "lexnames").write_text(
                "".join(f"{i:02d}\t{name}\t{_pos_number(name)}\n"
                        for i, name in enumerate(LEXNAMES)),
                encoding="utf-8",
            )
            if not (staging / "index.sense").is_file():
                _write_index_sense(staging)
            if dest.exists():
                shutil.rmtree(dest)
            staging.rename(dest)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return dest


def _made(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _pos_number(lexname: str) -> int:
    return {"noun": 1, "verb": 2, "adj": 3, "adv": 4}[lexname.split(".")[0]]


def _unpack_deb(deb: Path, into: Path) -> Path:
    """The ``usr/share/wordnet`` files of a .deb (an ar archive holding data.tar.*)."""
    blob = deb.read_bytes()
    if not blob.startswith(b"!<arch>\n"):
        raise PlugtuneError(f"{deb}: not a .deb file")
    position = 8
    while position + 60 <= len(blob):
        header = blob[position : position + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        body = blob[position + 60 : position + 60 + size]
        position += 60 + size + (size % 2)
        if name.startswith("data.tar"):
            with tarfile.open(fileobj=io.BytesIO(body)) as archive:
                members = [m for m in archive.getmembers()
                           if m.isfile() and "/usr/share/wordnet/" in f"/{m.name.lstrip('./')}"]
                for member in members:
                    target = into / Path(member.name).name
                    source = archive.extractfile(member)
                    assert source is not None
                    target.write_bytes(source.read())
            return into
    raise PlugtuneError(f"{deb}: no data archive in this .deb")


def _write_index_sense(folder: Path) -> None:
    """Derive ``index.sense`` (sense key, synset offset, sense number, tag count; sorted)
    from the data and index files, as wndb(5WN) and senseidx(5WN) define them."""
    synsets: dict[tuple[str, str], tuple[int, str, list[tuple[str, int]], str | None]] = {}
    for pos in POS:
        with (folder / f"data.{pos}").open(encoding="utf-8") as lines:
            for line in lines:
                if line.startswith("  "):
                    continue  # the licence header
                fields = line.split()
                offset, lexfile, ss_type = fields[0], int(fields[1]), fields[2]
                count = int(fields[3], 16)
                words = [
                    (re.sub(r"\(.*\)$", "", fields[4 + 2 * i]).lower(),
                     int(fields[5 + 2 * i], 16))
                    for i in range(count)
                ]
                at = 4 + 2 * count
                head = None
                for p in range(int(fields[at])):
                    symbol, target, _pos = fields[at + 1 + 4 * p : at + 4 + 4 * p]
                    if ss_type == "s" and symbol == "&" and head is None:
                        head = target
                synsets[(pos, offset)] = (lexfile, ss_type, words, head)
    sense_numbers: dict[tuple[str, str, str], int] = {}
    for pos in POS:
        with (folder / f"index.{pos}").open(encoding="utf-8") as lines:
            for line in lines:
                if line.startswith("  "):
                    continue
                fields = line.split()
                lemma, synset_count = fields[0], int(fields[2])
                for number, offset in enumerate(fields[-synset_count:], start=1):
                    sense_numbers[(pos, lemma, offset)] = number
    tag_counts: dict[str, str] = {}
    if (folder / "cntlist.rev").is_file():
        for line in (folder / "cntlist.rev").read_text(encoding="utf-8").splitlines():
            key, _, count = line.split()
            tag_counts[key] = count
    rows = []
    for (pos, offset), (lexfile, ss_type, words, head) in synsets.items():
        head_part = ":"
        if ss_type == "s" and head is not None:
            head_word, head_id = synsets[("adj", head)][2][0]
            head_part = f"{head_word}:{head_id:02d}"
        for word, lex_id in words:
            key = f"{word}%{_SS_TYPE[ss_type]}:{lexfile:02d}:{lex_id:02d}:{head_part}"
            number = sense_numbers.get((pos, word, offset), 0)
            rows.append(f"{key} {offset} {number} {tag_counts.get(key, 0)}\n")
    rows.sort()
    (folder / "index.sense").write_text("".join(rows), encoding="utf-8")


def find_wordnet() -> Path | None:
    """The first WordNet folder of the module's search order, except nltk's own data
    path (see :func:`load_wordnet`); prepares the cache from Debian's files when needed."""
    explicit = os.environ.get(WORDNET_ENV_VAR)
    if explicit:
        if not is_wordnet_dir(Path(explicit)):
            raise PlugtuneError(
                f"${WORDNET_ENV_VAR}={explicit}: not a WordNet folder (it needs "
                f"{', '.join([*_FILES, 'lexnames', 'index.sense'])}); "
                "python -m plugtune.plugins.metrics.wordnet SOURCE DEST makes one"
            )
        return Path(explicit)
    cache = wordnet_cache_dir()
    if is_wordnet_dir(cache):
        return cache
    if (DEBIAN_WORDNET / "data.noun").is_file():
        return setup_wordnet(DEBIAN_WORDNET, cache)
    return None


def _nltk_has_wordnet() -> bool:
    try:
        import nltk

        nltk.data.find("corpora/wordnet")
    except LookupError:
        return False
    return True


@lru_cache(maxsize=4)
def _reader(folder: str) -> Any:
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    class _Reader(WordNetCorpusReader):  # type: ignore[misc]
        def map_wn(self, version: str = "wordnet") -> Any:
            # nltk maps "wordnet" (3.0, looked up on its data path) to the loaded one for
            # multilingual data, which this reader has none of: this is WordNet 3.0.
            return None

    if folder not in nltk.data.path:  # nltk reads only below the folders of its data path
        nltk.data.path.append(folder)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The multilingual functions")
        return _Reader(folder, None)


def load_wordnet() -> Any:
    """nltk's WordNet reader: ``$PLUGTUNE_WORDNET``, else nltk's own (``nltk.download``,
    ``$NLTK_DATA``), else plugtune's cache / Debian's files; a PlugtuneError saying how
    to install WordNet when there is none."""
    if not os.environ.get(WORDNET_ENV_VAR) and _nltk_has_wordnet():
        from nltk.corpus import wordnet

        return wordnet
    folder = find_wordnet()
    if folder is None:
        raise PlugtuneError(
            _INSTALL_HINT.format(env=WORDNET_ENV_VAR, cache=wordnet_cache_dir(),
                                 debian=DEBIAN_WORDNET)
        )
    return _reader(str(folder))


def debian_wordnet_source() -> Path | None:
    """Debian's WordNet 3.0 files on this machine: installed (``/usr/share/wordnet``),
    prepared into this environment by ``--install``, or a ``wordnet-base`` .deb in
    apt's cache; None when there are none."""
    if (DEBIAN_WORDNET / "data.noun").is_file():
        return DEBIAN_WORDNET
    if is_wordnet_dir(ENVIRONMENT_WORDNET):
        return ENVIRONMENT_WORDNET
    debs = sorted(APT_ARCHIVES.glob("wordnet-base_*.deb"))
    return debs[-1] if debs else None


def install_wordnet(dest: Path | None = None) -> Path | None:
    """Make ``dest`` (default: this environment's nltk data path) a checked WordNet
    folder: from :func:`debian_wordnet_source`, else from ``apt-get download
    wordnet-base`` (apt's repository; no root needed). Returns None only where there is
    neither a source nor apt-get (not a Debian system); a PlugtuneError when the
    download fails or METEOR cannot score with the result."""
    dest = dest or ENVIRONMENT_WORDNET
    if not is_wordnet_dir(dest):
        with tempfile.TemporaryDirectory() as tmp:
            source = debian_wordnet_source()
            if source is None:
                if shutil.which("apt-get") is None:
                    return None
                source = _apt_download("wordnet-base", Path(tmp))
            setup_wordnet(source, dest)
    _check_meteor(dest)
    return dest


def _apt_download(package: str, folder: Path) -> Path:
    done = subprocess.run(["apt-get", "download", package], cwd=folder,
                          capture_output=True, text=True, check=False)
    debs = sorted(folder.glob(f"{package}_*.deb"))
    if done.returncode or not debs:
        raise PlugtuneError(
            f"apt-get download {package} failed (exit {done.returncode}): "
            f"{(done.stderr or done.stdout).strip()[-500:]}; METEOR needs WordNet "
            "(apt-get update first, or install wordnet-base)"
        )
    return debs[-1]


def _check_meteor(folder: Path) -> None:
    """METEOR matches WordNet synonyms with ``folder``'s WordNet: "auto" for "car" gives
    nltk's known score (an unmatched word would give about 0.6)."""
    from nltk.translate.meteor_score import meteor_score

    wordnet = _reader(str(folder))
    score = meteor_score([["the", "car", "is", "red"]], ["the", "auto", "is", "red"],
                         wordnet=wordnet)
    if abs(score - 0.992188) > 1e-6:
        raise PlugtuneError(f"{folder}: METEOR does not match WordNet synonyms with this "
                            f"WordNet (auto/car scored {score:.6f}, not 0.992188)")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m plugtune.plugins.metrics.wordnet SOURCE [DEST]``: prepare WordNet;
    ``--install``: into this environment, from Debian's files (see install_wordnet)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--install"]:
        try:
            installed = install_wordnet()
        except PlugtuneError as error:
            print(f"WordNet for METEOR: FAILED: {error}", file=sys.stderr)
            return 1
        if installed is None:
            print("WordNet for METEOR: skipped: no Debian wordnet-base files and no apt-get "
                  "here; METEOR will ask for WordNet (its tests skip)", file=sys.stderr)
        else:
            print(f"WordNet for METEOR: ready in {installed}", file=sys.stderr)
        return 0
    if not 1 <= len(args) <= 2:
        print("usage: python -m plugtune.plugins.metrics.wordnet "
              "(--install | WORDNET_DIR | wordnet-base.deb [DEST])", file=sys.stderr)
        return 2
    dest = setup_wordnet(args[0], args[1] if len(args) == 2 else wordnet_cache_dir())
    print(dest)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
