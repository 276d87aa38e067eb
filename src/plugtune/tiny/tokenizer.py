"""Train and save the byte-level BPE tokenizer of a tiny model.

The pipeline (normalizer, pre-tokenizer, BPE options) is built with exactly the calls
that the transformers class named in ``tokenizer_config.json`` uses when it rebuilds
its backend. Qwen2Tokenizer, for one, ignores the normalizer and pre-tokenizer in
``tokenizer.json`` and builds its own; had we trained with another pipeline,
``AutoTokenizer`` and ``tokenizers.Tokenizer.from_file`` would give different ids for
the same text (digits and runs of spaces first). torch / tokenizers / transformers are
imported inside the functions so that importing this module stays cheap.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from plugtune.tiny.architectures import COMMON_CONFIG, TinyArchitecture
from plugtune.tiny.corpus import corpus_chunks

if TYPE_CHECKING:
    from tokenizers import Tokenizer


def _pipeline(arch: TinyArchitecture) -> Tokenizer:
    """An untrained tokenizer with the architecture's normalizer, pre-tokenizer, decoder."""
    from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers
    from tokenizers.models import BPE

    tokenizer = Tokenizer(
        BPE(
            unk_token=None,
            continuing_subword_prefix="",
            end_of_word_suffix="",
            fuse_unk=False,
            byte_fallback=False,
        )
    )
    tokenizer.normalizer = normalizers.NFC() if arch.nfc else None
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(arch.split_regex), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


def _post_processor(arch: TinyArchitecture) -> object:
    """ByteLevel offsets handling, plus a leading bos where the real tokenizer adds one."""
    from tokenizers import processors

    byte_level = processors.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    if not arch.prepend_bos:
        return byte_level
    bos = arch.bos_token
    template = processors.TemplateProcessing(
        single=f"{bos}:0 $A:0",
        pair=f"{bos}:0 $A:0 {bos}:1 $B:1",
        special_tokens=[(bos, arch.token_id(bos))],
    )
    return processors.Sequence([byte_level, template])


def train_tokenizer(arch: TinyArchitecture) -> Tokenizer:
    """Train the tokenizer on the shipped corpus; the vocab has exactly ``vocab_size`` ids.

    All 256 bytes are in the initial alphabet, so text never seen in training (emoji,
    other scripts) still encodes losslessly.
    """
    from tokenizers import AddedToken, pre_tokenizers, trainers

    vocab_size = int(COMMON_CONFIG["vocab_size"])
    tokenizer = _pipeline(arch)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=0,
        show_progress=False,
        special_tokens=[
            AddedToken(token, special=True, normalized=False) for token in arch.special_tokens
        ],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(corpus_chunks(), trainer=trainer)
    tokenizer.post_processor = _post_processor(arch)
    if tokenizer.get_vocab_size(with_added_tokens=True) != vocab_size:
        raise RuntimeError(
            f"tiny tokenizer for {arch.name} has {tokenizer.get_vocab_size()} ids, "
            f"expected {vocab_size}: the corpus is too small for that many merges"
        )
    return tokenizer


def save_tokenizer(arch: TinyArchitecture, tokenizer: Tokenizer, out_dir: Path) -> None:
    """Write tokenizer.json, tokenizer_config.json and chat_template.jinja into ``out_dir``.

    ``tokenizer_class`` is pinned afterwards because it decides which transformers class
    ``AutoTokenizer`` builds, and the default for model_type ``llama`` (LlamaTokenizer)
    would replace the byte-level pipeline with a SentencePiece-style one.
    """
    from transformers import PreTrainedTokenizerFast

    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=arch.bos_token,
        eos_token=arch.eos_token,
        pad_token=arch.pad_token,
        unk_token=None,
        model_max_length=int(COMMON_CONFIG["max_position_embeddings"]),
        clean_up_tokenization_spaces=False,
        chat_template=arch.chat_template,
    )
    wrapped.save_pretrained(str(out_dir))
    config_path = out_dir / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["tokenizer_class"] = arch.tokenizer_class
    config["add_bos_token"] = arch.prepend_bos
    config_path.write_text(
        json.dumps(config, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
    )
