"""Families whose chat template is fully described by slot strings.

Each class names the upstream template it reproduces; the slots were written from that
Jinja source (``../shared/fixtures/chat_templates.json`` in the test suite holds the
texts, and the tests render both on the same conversations). ``jinja_digests`` are the
normalized digests (:mod:`~plugtune.sdk.templates.matching`) of those texts.

Their replies are content (what the ``assistant`` slot writes before it, Mistral's space,
is dropped), but for ``deepseek-r1``, whose ``<think>`` block is read as reasoning.
"""

from __future__ import annotations

from dataclasses import replace

from plugtune.core.records import Conversation, Message
from plugtune.sdk.templates.replies import THINK, ReplyFormat
from plugtune.sdk.templates.slots import CHATML_SLOTS, Slots, SlotTemplate


class ChatMLTemplate(SlotTemplate):
    """Generic ChatML, without a default system prompt.

    The template transformers used for tokenizers without one, and InternLM2.5's
    without its bos."""

    name = "chatml"
    stop_strings = ("<|im_end|>",)
    slots = CHATML_SLOTS
    jinja_digests = frozenset(
        {
            # the generic ChatML template, real newlines (= InternLM2.5's without bos)
            "153280e3ff55d19da1398bdb3914ee2a51b80429bfaedde11d7d216c39db80f3",
            # the same with "\\n" escapes (transformers' old default)
            "fcf7a096fe99a48fd9ad2b250bf9237e96e8f48bffec1c7ea4d3f225176cd40e",
        }
    )


class InternLM2Template(ChatMLTemplate):
    """InternLM2.5-chat: bos, then ChatML.

    The same string as InternLM2-chat-20b@477d4748's."""

    name = "internlm2"
    stop_strings = ("<|im_end|>", "</s>")
    bos_token, eos_token = "<s>", "</s>"
    slots = replace(CHATML_SLOTS, prefix="<s>")
    jinja_digests = frozenset(
        {
            # InternLM2.5-chat / InternLM2-chat-20b@477d4748
            "49aa7cb516942cc5a17d45ed2939828e3b5e4188dc487a3c4b64a570e5b5111f",
        }
    )


class YiTemplate(SlotTemplate):
    """Yi-1.5-Chat: ChatML turns, the system text bare.

    From Yi-1.5-6B-Chat@d68dab90. The assistant header is written after every user turn,
    so a generation prompt adds nothing."""

    name = "yi"
    stop_strings = ("<|im_end|>",)
    bos_token, eos_token = "<|startoftext|>", "<|im_end|>"
    slots = Slots(
        system="{content}",
        user=CHATML_SLOTS.user + "<|im_start|>assistant\n",
        assistant="{content}<|im_end|>",
        assistant_suffix="\n",
    )
    jinja_digests = frozenset(
        {
            # Yi-1.5-6B-Chat@d68dab90
            "91aa728ae59c8e30443382f44f48d594b5f7afe91a449c0e5ed0e920a71d60a2",
        }
    )


class Llama3Template(SlotTemplate):
    """Llama 3 Instruct: a header per message, ``<|eot_id|>`` after each.

    Meta-Llama-3-Instruct's revision with the ``add_generation_prompt`` guard: bos, then
    per message a header, the content trimmed and ``<|eot_id|>``."""

    name = "llama3"
    stop_strings = ("<|eot_id|>", "<|end_of_text|>")
    bos_token, eos_token = "<|begin_of_text|>", "<|eot_id|>"
    slots = Slots(
        prefix="<|begin_of_text|>",
        system="<|start_header_id|>system<|end_header_id|>\n\n{content}<|eot_id|>",
        user="<|start_header_id|>user<|end_header_id|>\n\n{content}<|eot_id|>",
        assistant_header="<|start_header_id|>assistant<|end_header_id|>\n\n",
        assistant="{content}<|eot_id|>",
        generation_prompt="<|start_header_id|>assistant<|end_header_id|>\n\n",
        trim=("system", "user", "assistant"),
    )
    jinja_digests = frozenset(
        {
            # Meta-Llama-3-8B-Instruct, add_generation_prompt revision
            "ba03a121d097859c7b5b9cd03af99aafe95275210d2876f642ad9929a150f122",
            # tiny://llama (the same, restructured, with generation markers)
            "aa772088112bffdd2aff1ce675492aaaa35689ab50b50e9d17adf8ab928c91a9",
        }
    )


class GemmaTemplate(SlotTemplate):
    """Gemma 2 instruct: no system role, the assistant is "model".

    The same text as Gemma 1.1-it's: content trimmed, roles strictly alternating."""

    name = "gemma"
    stop_strings = ("<end_of_turn>", "<eos>")
    bos_token, eos_token = "<bos>", "<eos>"
    supports_system = False
    alternating = True
    slots = Slots(
        prefix="<bos>",
        user="<start_of_turn>user\n{content}<end_of_turn>\n",
        assistant_header="<start_of_turn>model\n",
        assistant="{content}<end_of_turn>",
        assistant_suffix="\n",
        generation_prompt="<start_of_turn>model\n",
        trim=("user", "assistant"),
    )
    jinja_digests = frozenset(
        {
            # gemma-2-2b-it / gemma-2-9b-it / gemma-1.1-it
            "ecd6ae513fe103f0eb62e8ab5bfa8d0fe45c1074fa398b089c93a7e70c15cfd6",
        }
    )


class MistralTemplate(SlotTemplate):
    """Mistral V2/V3 instruct (Mistral-7B-Instruct-v0.3): no system role, no tools.

    Mistral's documented basic template, ``<s>[INST] user[/INST] answer</s>`` with
    alternating roles. The answer includes the space after ``[/INST]``: the model
    writes it."""

    name = "mistral"
    stop_strings = ("</s>",)
    bos_token, eos_token = "<s>", "</s>"
    supports_system = False
    alternating = True
    slots = Slots(prefix="<s>", user="[INST] {content}[/INST]", assistant=" {content}</s>")
    jinja_digests = frozenset(
        {
            # Mistral's documented V2/V3 basic template
            "bf1a68895d61bbff700ad350ac45c39a4a76cc20cf18ebb5bcca8d252a9f00cb",
        }
    )


class Phi3Template(SlotTemplate):
    """Phi-3-mini-instruct: ``<|system|>``/``<|user|>``/``<|assistant|>`` turns.

    The later revision, with explicit role branches: ``<|end|>`` ends each turn, and the
    tokenizer's eos closes a rendering without a generation prompt."""

    name = "phi3"
    stop_strings = ("<|end|>", "<|endoftext|>")
    bos_token, eos_token = "<s>", "<|endoftext|>"
    slots = Slots(
        system="<|system|>\n{content}<|end|>\n",
        user="<|user|>\n{content}<|end|>\n",
        assistant_header="<|assistant|>\n",
        assistant="{content}<|end|>",
        assistant_suffix="\n",
        generation_prompt="<|assistant|>\n",
        closing="<|endoftext|>",
    )
    jinja_digests = frozenset(
        {
            # Phi-3-mini-instruct, later revision
            "dcaee66df77bfbb789ec541fe713218da30225a526f1db97138fc39ee6dc56aa",
        }
    )


class DeepSeekR1Template(SlotTemplate):
    """DeepSeek-R1-Distill, January 2025 template; reasoning is not rendered.

    From DeepSeek-R1-Distill-Qwen-32B's tokenizer_config: bos, the system text bare,
    ``<｜User｜>``/``<｜Assistant｜>`` markers; the generation prompt is ``<｜Assistant｜>``
    alone. Like the upstream template, an answer keeps only what follows its last
    ``</think>``, in every turn. A reply's leading ``<think>`` block, which the model
    writes, is read back as its reasoning."""

    name = "deepseek-r1"
    stop_strings = ("<｜end▁of▁sentence｜>",)
    reply_format = ReplyFormat(think=THINK)
    bos_token, eos_token = "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"
    slots = Slots(
        prefix="<｜begin▁of▁sentence｜>",
        user="<｜User｜>{content}",
        assistant_header="<｜Assistant｜>",
        assistant="{content}<｜end▁of▁sentence｜>",
        generation_prompt="<｜Assistant｜>",
    )
    jinja_digests = frozenset(
        {
            # DeepSeek-R1-Distill-Qwen-32B, January 2025
            "b6835114b7303ddd78919a82e4d9f7d8c26ed0d7dfc36beeb12d524f6144eab1",
        }
    )

    def answer(self, index: int, message: Message, conversation: Conversation) -> str:
        return message.content.split("</think>")[-1]


class Baichuan2Template(SlotTemplate):
    """Baichuan2-Chat, as its generation_utils.py builds prompts.

    vLLM's ``template_baichuan.jinja`` (Baichuan ships no chat template): the system
    text trimmed, then ``<reserved_106>`` user / ``<reserved_107>`` assistant tokens.
    Nothing ends an answer but the next user token, which is trained as the stop; a
    final answer gets the eos, as Baichuan's own fine-tuning script appends it."""

    name = "baichuan2"
    stop_strings = ("</s>", "<reserved_106>")
    bos_token, eos_token = "<s>", "</s>"
    final_answer_stop = "</s>"
    slots = Slots(
        user="<reserved_106>{content}",
        assistant_header="<reserved_107>",
        trim=("system",),
    )
    jinja_digests = frozenset(
        {
            # vLLM's template_baichuan.jinja
            "89dbc4b4e39f09d1433d184341e0fa32b66a4d7653c287850a187f3885756a01",
        }
    )

    def generation_prompt(self, conversation: Conversation) -> str:
        messages = conversation.messages
        return "" if messages and messages[-1].role == "assistant" else "<reserved_107>"


class ChatGLM3Template(SlotTemplate):
    """ChatGLM3-6B's own template (no tools).

    ``[gMASK]sop`` then ``<|role|>\\n content`` per message (a space after the newline,
    unlike LLaMA-Factory's ``chatglm3``). An answer ends where the next role token
    begins; that token is trained as the stop, and ``<|user|>`` is appended after a
    final answer, the token the model emits when it is done."""

    name = "chatglm3"
    stop_strings = ("<|user|>", "<|observation|>", "</s>")
    eos_token = "</s>"
    final_answer_stop = "<|user|>"
    slots = Slots(
        prefix="[gMASK]sop",
        system="<|system|>\n {content}",
        user="<|user|>\n {content}",
        assistant_header="<|assistant|>",
        assistant="\n {content}",
        generation_prompt="<|assistant|>",
    )
    jinja_digests = frozenset(
        {
            # THUDM/chatglm3-6b
            "e4496f930bf7b7bc7e7cf8232e90fd43ab4a9d8eb9c77f6ec98f5beb5c5cbeaa",
        }
    )


FAMILIES: tuple[type[SlotTemplate], ...] = (
    ChatMLTemplate,
    InternLM2Template,
    YiTemplate,
    Llama3Template,
    GemmaTemplate,
    MistralTemplate,
    Phi3Template,
    DeepSeekR1Template,
    Baichuan2Template,
    ChatGLM3Template,
)
