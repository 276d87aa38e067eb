"""hf (any Jinja template, masked incrementally) and template: auto."""

from __future__ import annotations

import json
from typing import Any

import pytest

from plugtune import ConfigError
from plugtune.core.interfaces import Segment
from plugtune.core.records import Conversation, Message
from plugtune.plugins.templates.hf import HFTemplate
from plugtune.sdk.templates.family import TemplateError
from plugtune.sdk.templates.matching import (
    digest_chat_template,
    match_chat_template,
    normalize_chat_template,
    renders_alike,
)
from tests.conftest import needs_fixtures
from tests.template_cases import (
    GEMMA2,
    GLM4,
    GOLDENS,
    INTERNLM2_OLD,
    INTERNLM25,
    LLAMA3_INITIAL,
    MISTRAL,
    MISTRAL_TOOLS,
    NOT_FOLLOWED,
    PHI3_INITIAL,
    QWEN3,
    QWEN25,
    SESSION,
    TEMPLATES,
    UPSTREAM,
    VARIANTS,
    corpus,
    corpus_for,
    prompt_settings,
    qwen25_base,
    reference,
    special_tokens,
    without_bos,
)

# --- hf: any Jinja template, masked by incremental rendering ------------------------------

#: The special tokens each upstream variant is rendered with (its tokenizer's).
TOKENS_OF = {variant[1]: variant[2] for variant in VARIANTS} | {
    LLAMA3_INITIAL: "llama3",
    MISTRAL_TOOLS: "mistral",
    INTERNLM2_OLD: "internlm2",
}
#: Templates that rewrite earlier turns (hf refuses those conversations): Qwen3 drops old
#: reasoning and gives only the final answer an empty <think>; Mistral's tool template
#: puts the tool specs before the *last* user message.
PREFIX_UNSTABLE = {QWEN3, MISTRAL_TOOLS}


def hf_for(sha: str, **options: Any) -> HFTemplate:
    builtin = TEMPLATES.get(TOKENS_OF[sha]).load()
    tokens = special_tokens(builtin)
    return SESSION.build(
        "templates",
        {"name": "hf", "chat_template": UPSTREAM[sha]["chat_template"], **tokens, **options},
    )


@needs_fixtures
@pytest.mark.parametrize("sha", sorted(UPSTREAM), ids=lambda sha: UPSTREAM[sha]["variant"][:40])
@pytest.mark.slow
def test_hf_renders_every_upstream_template_like_transformers(sha):
    template = hf_for(sha)
    builtin = TEMPLATES.get(TOKENS_OF[sha]).load()
    variables = special_tokens(builtin)
    refused = rendered = 0
    for conversation in corpus(7, count=24, tools=sha != GLM4, reasoning=sha == QWEN3):
        for prompt in prompt_settings(conversation):
            try:
                expected = reference(
                    UPSTREAM[sha]["chat_template"], conversation, prompt, variables
                )
            except Exception:  # the template raises: so must hf
                with pytest.raises(TemplateError, match="chat template failed"):
                    template.segments(conversation, add_generation_prompt=prompt)
                continue
            try:
                segments = template.segments(conversation, add_generation_prompt=prompt)
            except TemplateError as error:
                assert sha in PREFIX_UNSTABLE and "prefix-stable" in str(error), error
                refused += 1
                continue
            assert "".join(s.text for s in segments) == expected
            rendered += 1
    assert rendered >= (1 if sha in PREFIX_UNSTABLE else 10)
    assert (refused > 0) == (sha in PREFIX_UNSTABLE)


#: Built-in templates hf must mask identically (prefix-stable, answers closed by a stop).
MASK_PARITY = [v for v in VARIANTS if v[2] not in ("qwen3", "glm4", "chatglm3", "baichuan2")]


@needs_fixtures
@pytest.mark.parametrize(
    ("sha", "name", "options", "variables", "derive"),
    [pytest.param(*variant[1:], id=variant[0]) for variant in MASK_PARITY],
)
@pytest.mark.slow
def test_hf_masks_like_the_builtin_template(sha, name, options, variables, derive):
    builtin = SESSION.build("templates", {"name": name, **options})
    text = UPSTREAM[sha]["chat_template"]
    tokens = {**special_tokens(builtin), **variables}
    hf = SESSION.build(
        "templates",
        {
            "name": "hf",
            "chat_template": derive(text) if derive else text,
            "bos_token": tokens.get("bos_token"),
            "eos_token": tokens.get("eos_token"),
            "template_kwargs": {k: v for k, v in variables.items() if "token" not in k},
        },
    )
    assert hf.stop_strings[0] == builtin.stop_strings[0]
    for number, conversation in enumerate(corpus_for(builtin, seed=11)):
        for prompt in prompt_settings(conversation):
            ours = builtin.segments(conversation, add_generation_prompt=prompt)
            theirs = hf.segments(conversation, add_generation_prompt=prompt)
            assert "".join(s.text for s in theirs) == "".join(s.text for s in ours)
            assert trained_by_message(theirs) == trained_by_message(ours), number


def trained_by_message(segments: list[Segment]) -> dict[int, str]:
    trained: dict[int, str] = {}
    for segment in segments:
        if segment.trainable:
            trained[segment.message] = trained.get(segment.message, "") + segment.text
    return trained


@needs_fixtures
def test_hf_refuses_a_template_that_is_not_prefix_stable():
    hf = hf_for(QWEN3)
    two_turns = Conversation(
        (
            Message("user", "A?"),
            Message("assistant", "a"),
            Message("user", "B?"),
            Message("assistant", "b"),
        ),
        origin="chat.jsonl:1",
    )
    with pytest.raises(
        TemplateError, match=r"chat\.jsonl:1: template 'hf'.*not prefix-stable.*\[1\]"
    ):
        hf.segments(two_turns)
    one_turn = Conversation(two_turns.messages[:2])
    assert hf.render(one_turn) == SESSION.build("templates", "qwen3").render(one_turn)


@needs_fixtures
def test_hf_reads_a_model_folder_and_a_jinja_file(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    config = {
        "chat_template": [{"name": "default", "template": UPSTREAM[GEMMA2]["chat_template"]}],
        "bos_token": {"content": "<bos>", "special": True},
        "eos_token": "<eos>",
        "added_tokens_decoder": {"106": {"content": "<end_of_turn>", "special": True}},
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    hf = SESSION.build("templates", {"name": "hf", "source": str(folder)})
    gemma = SESSION.build("templates", "gemma")
    assert (hf.bos_token, hf.eos_token, hf.stop_strings) == ("<bos>", "<eos>", gemma.stop_strings)
    conversation = Conversation((Message("user", "Hi"), Message("assistant", "Hello")))
    assert hf.render(conversation) == gemma.render(conversation)
    assert trained_by_message(hf.segments(conversation)) == {1: "Hello<end_of_turn>"}
    jinja = tmp_path / "chat_template.jinja"
    jinja.write_text(UPSTREAM[MISTRAL]["chat_template"])
    hf = SESSION.build(
        "templates", {"name": "hf", "source": str(jinja), "bos_token": "<s>", "eos_token": "</s>"}
    )
    assert hf.render(conversation) == "<s>[INST] Hi[/INST] Hello</s>"
    with pytest.raises(ConfigError, match="neither a file nor a folder"):
        SESSION.build("templates", {"name": "hf", "source": str(tmp_path / "missing")})


# --- template: auto -----------------------------------------------------------------------


@needs_fixtures
def test_upstream_digests_match_the_template_that_follows_them():
    registered = [(component.name, component.load()) for component in TEMPLATES]
    for _, sha, name, _, _, derive in VARIANTS:
        text = UPSTREAM[sha]["chat_template"]
        if derive is None and sha != PHI3_INITIAL:
            assert match_chat_template(text, registered) == name, UPSTREAM[sha]["variant"]
    assert (
        match_chat_template(qwen25_base(UPSTREAM[QWEN25]["chat_template"]), registered) == "qwen2"
    )
    assert (
        match_chat_template(without_bos(UPSTREAM[INTERNLM25]["chat_template"]), registered)
        == "chatml"
    )
    for sha in (*NOT_FOLLOWED, PHI3_INITIAL):
        assert match_chat_template(UPSTREAM[sha]["chat_template"], registered) is None
    swift_qwen = next(
        c for c in GOLDENS if c["case_id"] == "swift_jinja:Qwen Qwen2.5-0.5B-Instruct"
    )
    assert match_chat_template(swift_qwen["chat_template"], registered) == "qwen"  # no final \n


@needs_fixtures
def test_normalization_only_drops_what_renders_nothing():
    text = UPSTREAM[QWEN25]["chat_template"]
    turn = (
        "        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + "
        "'\\n' }}"
    )
    prompt = "{{- '<|im_start|>assistant\\n' }}"
    marked = text.replace(
        turn, f"        {{%- generation %}}\n{turn}\n        {{%- endgeneration %}}"
    ).replace(prompt, f"{{% generation %}}{prompt}{{% endgeneration %}}")
    assert marked.count("generation %}") == 4
    assert "generation %}" not in normalize_chat_template(marked)
    assert digest_chat_template(marked) == digest_chat_template(text.removesuffix("\n"))
    assert digest_chat_template(marked.replace("\n", "\r\n")) == digest_chat_template(text)
    conversation = corpus(3, count=1)[0]
    for generation_prompt in (False, True):
        rendered = reference(marked, conversation, generation_prompt, {})
        assert rendered == reference(text, conversation, generation_prompt, {})
    assert digest_chat_template(text.replace("    ", "  ")) != digest_chat_template(text)


@pytest.fixture(scope="module")
def tiny_templates() -> dict[str, tuple[str, dict[str, Any]]]:
    from plugtune.tiny import tiny_model_path

    found = {}
    for ref in ("tiny://qwen2", "tiny://llama"):
        folder = tiny_model_path(ref)
        config = json.loads((folder / "tokenizer_config.json").read_text())
        tokens = {key: config[key] for key in ("bos_token", "eos_token") if config.get(key)}
        found[ref] = ((folder / "chat_template.jinja").read_text(), tokens)
    return found


@pytest.mark.parametrize(("ref", "name"), [("tiny://qwen2", "qwen2"), ("tiny://llama", "llama3")])
def test_tiny_models_are_matched_to_a_template_that_renders_like_them(tiny_templates, ref, name):
    """tiny://qwen2 carries Qwen2.5's *base-model* template (default system "You are a
    helpful assistant."), so it matches ``qwen2``, not ``qwen``: matching ``qwen`` would
    render a different system prompt than the tokenizer does."""
    text, tokens = tiny_templates[ref]
    registered = [(component.name, component.load()) for component in TEMPLATES]
    assert match_chat_template(text, registered) == name
    template = SESSION.build("templates", name)
    assert special_tokens(template).get("bos_token") == tokens.get("bos_token")
    assert renders_alike(template, text, **tokens)
    if name == "qwen2":
        assert not renders_alike(SESSION.build("templates", "qwen"), text, **tokens)
    hf = SESSION.build("templates", {"name": "hf", "source": ref})  # the fallback agrees
    assert hf.stop_strings[0] == template.stop_strings[0]
    for conversation in corpus_for(template, seed=5):
        for prompt in prompt_settings(conversation):
            expected = reference(text, conversation, prompt, tokens)
            ours = template.segments(conversation, add_generation_prompt=prompt)
            assert "".join(s.text for s in ours) == expected
            theirs = hf.segments(conversation, add_generation_prompt=prompt)
            assert "".join(s.text for s in theirs) == expected
            assert trained_by_message(theirs) == trained_by_message(ours)
