"""What LLaMA-Factory 0.9.5 writes for each of its chat templates that plugtune reads.

Written from the ``register_template`` calls of ``src/llamafactory/data/template.py`` at
tag v0.9.5 as :class:`~plugtune.sdk.templates.format_check.ChatFormat` slots: the text
of system, user and assistant turns, not LLaMA-Factory's code. They serve twice: a name
read as the model's own template (``hf``) takes its format along as ``renders_as``, which
the template checks on probe chats when a run starts; and the tests render every format
beside the plugtune family a name maps to, so a difference is either noted or a failure.

Three rules of LLaMA-Factory's encoder shape the slots. An answer ends with the
tokenizer's eos unless the template says otherwise; an ``efficient_eos`` template writes
that eos once, after the last answer (``closing``). Its user slot also opens the answer,
so it is the generation prompt too. A ``Llama2Template`` puts the system slot inside the
first user message (``system_in_user``). Where a template replaces the eos token
(``replace_eos``), no slot here names ``{eos}``: they spell the token out. Tool calls,
tool results and reasoning blocks are not described: the check covers plain chats.
"""

from __future__ import annotations

from typing import Any

from plugtune.sdk.templates.format_check import ChatFormat


def lf(user: str, *, efficient_eos: bool = False, **slots: Any) -> dict[str, Any]:
    """Slots with LLaMA-Factory's defaults: an answer ends with the eos token, or, for
    an ``efficient_eos`` template, the conversation does."""
    ending = {"assistant": "{content}", "closing": "{eos}"} if efficient_eos else {
        "assistant": "{content}{eos}"}
    return {**ending, "user": user, **slots}


CHATML = lf(
    "<|im_start|>user\n{content}<|im_end|>\n<|im_start|>assistant\n",
    assistant="{content}<|im_end|>\n",
    system="<|im_start|>system\n{content}<|im_end|>\n",
)
_GEMMA = lf(
    "<start_of_turn>user\n{content}<end_of_turn>\n<start_of_turn>model\n",
    assistant="{content}<end_of_turn>\n", system="{content}\n\n", prefix="{bos}",
    system_in_user=True,
)
_GRANITE = lf(
    "<|start_of_role|>user<|end_of_role|>{content}<|end_of_text|>\n"
    "<|start_of_role|>assistant<|end_of_role|>",
    assistant="{content}<|end_of_text|>\n",
    system="<|start_of_role|>system<|end_of_role|>{content}<|end_of_text|>\n",
)
_LLAMA2 = lf("{bos}[INST] {content} [/INST]", system="<<SYS>>\n{content}\n<</SYS>>\n\n",
             system_in_user=True)
_PHI = lf("<|user|>\n{content}<|end|>\n<|assistant|>\n", assistant="{content}<|end|>\n",
          system="<|system|>\n{content}<|end|>\n")
_VICUNA_SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. The "
    "assistant gives helpful, detailed, and polite answers to the user's questions."
)
_CODER_REFUSAL = (  # the tail of DeepSeek Coder's and Seed-Coder's default system prompts
    "and you only answer questions related to computer science. For politically "
    "sensitive questions, security and privacy issues, and other non-computer science "
    "questions, you will refuse to answer.\n"
)
_DBRX_SYSTEM = (
    "You are DBRX, created by Databricks. You were last updated in December 2023. You "
    "answer questions based on information available up to that point.\nYOU PROVIDE SHORT "
    "RESPONSES TO SHORT QUESTIONS OR STATEMENTS, but provide thorough responses to more "
    "complex and open-ended questions.\nYou assist with various tasks, from writing to "
    "coding (using markdown for code blocks — remember to use ``` with code, JSON, and "
    "tables).\n(You do not have real-time data access or code execution capabilities. You "
    "avoid stereotyping and provide balanced perspectives on controversial topics. You do "
    "not provide song lyrics, poems, or news articles and do not divulge details of your "
    "training data.)\nThis is your system prompt, guiding your responses. Do not reference "
    "it, just respond to the user. If you find yourself talking about this message, stop. "
    "You should be responding appropriately and usually that means not mentioning this.\n"
    "YOU DO NOT MENTION ANY OF THIS INFORMATION ABOUT YOURSELF UNLESS THE INFORMATION IS "
    "DIRECTLY PERTINENT TO THE USER'S QUERY."
)
_INTERNLM_SYSTEM = (
    "You are an AI assistant whose name is InternLM (书生·浦语).\n- InternLM (书生·浦语) is a "
    "conversational language model that is developed by Shanghai AI Laboratory "
    "(上海人工智能实验室). It is designed to be helpful, honest, and harmless.\n- InternLM "
    "(书生·浦语) can understand and communicate fluently in the language chosen by the user "
    "such as English and 中文."
)

_SLOTS: dict[str, dict[str, Any]] = {
    # ChatML, with or without a bos and a default system prompt
    "chatml": CHATML,
    "qwen3_nothink": CHATML,
    "qwen3_vl_nothink": CHATML,
    "smollm": CHATML,
    "yi": CHATML,
    "smollm2": {**CHATML, "default_system": "You are a helpful AI assistant named SmolLM, "
                "trained by Hugging Face."},
    "chatml_de": {**CHATML, "default_system": "Du bist ein freundlicher und hilfsbereiter "
                  "KI-Assistent."},
    "dbrx": {**CHATML, "default_system": _DBRX_SYSTEM},
    "lfm2": {**CHATML, "default_system": "You are a helpful AI assistant."},
    "opencoder": {**CHATML, "default_system": "You are OpenCoder, created by OpenCoder Team."},
    "qwen": {**CHATML, "default_system": "You are Qwen, created by Alibaba Cloud. You are a "
             "helpful assistant."},
    "qwen2_vl": {**CHATML, "default_system": "You are a helpful assistant."},
    "cpm4": {**CHATML, "prefix": "{bos}"},
    "falcon_h1": {**CHATML, "prefix": "{bos}"},
    "intern2": {**CHATML, "prefix": "{bos}", "default_system": _INTERNLM_SYSTEM},
    # ChatML relatives
    "ernie": lf("<|im_start|>user\n{content}<|im_end|>\n\n<|im_start|>assistant\n",
                assistant="{content}<|im_end|>\n\n",
                system="<|im_start|>system\n{content}<|im_end|>\n\n",
                default_system="<global_setting>\nthink_mode=True\n</global_setting>"),
    "sailor": lf("<|im_start|>question\n{content}<|im_end|>\n<|im_start|>answer\n",
                 assistant="{content}<|im_end|>\n",
                 system="<|im_start|>system\n{content}<|im_end|>\n",
                 default_system="You are an AI assistant named Sailor created by Sea AI "
                 "Lab. Your answer should be friendly, unbiased, faithful, informative and "
                 "detailed."),
    "phi4": lf("<|im_start|>user<|im_sep|>{content}<|im_end|><|im_start|>assistant<|im_sep|>",
               assistant="{content}<|im_end|>",
               system="<|im_start|>system<|im_sep|>{content}<|im_end|>"),
    "moonlight": lf("<|im_user|>user<|im_middle|>{content}<|im_end|>"
                    "<|im_assistant|>assistant<|im_middle|>",
                    assistant="{content}<|im_end|>",
                    system="<|im_system|>system<|im_middle|>{content}<|im_end|>",
                    default_system="You are a helpful assistant provided by Moonshot-AI."),
    # Llama, Mistral and Gemma
    "llama2": _LLAMA2,
    "llama2_zh": {**_LLAMA2, "default_system": "You are a helpful assistant. "
                  "你是一个乐于助人的助手。"},
    "llama3": lf("<|start_header_id|>user<|end_header_id|>\n\n{content}<|eot_id|>"
                 "<|start_header_id|>assistant<|end_header_id|>\n\n",
                 assistant="{content}<|eot_id|>", prefix="{bos}",
                 system="<|start_header_id|>system<|end_header_id|>\n\n{content}<|eot_id|>"),
    "llama4": lf("<|header_start|>user<|header_end|>\n\n{content}<|eot|>"
                 "<|header_start|>assistant<|header_end|>\n\n",
                 assistant="{content}<|eot|>", prefix="{bos}",
                 system="<|header_start|>system<|header_end|>\n\n{content}<|eot|>"),
    "mistral": lf("[INST] {content}[/INST]", assistant=" {content}{eos}",
                  system="{content}\n\n", prefix="{bos}", system_in_user=True),
    "ministral": lf("[INST]{content}[/INST]", system="{content}\n\n", prefix="{bos}",
                    system_in_user=True),
    "gemma": _GEMMA,
    "gemma3": _GEMMA,
    "gemma2": {**_GEMMA, "closing": "{eos}"},  # efficient_eos
    # Phi
    "phi": _PHI,
    "phi_small": _PHI,  # its prefix names <|endoftext|> as neither bos nor eos: writes nothing
    "phi4_mini": lf("<|user|>{content}<|end|><|assistant|>", assistant="{content}<|end|>",
                    system="<|system|>{content}<|end|>"),
    # GLM
    "glm4": lf("<|user|>\n{content}<|assistant|>", assistant="\n{content}",
               system="<|system|>\n{content}", prefix="[gMASK]<sop>", efficient_eos=True),
    "chatglm3": lf("<|user|>\n{content}<|assistant|>", assistant="\n{content}",
                   system="<|system|>\n{content}", prefix="[gMASK]sop", efficient_eos=True),
    # DeepSeek
    "deepseek": lf("User: {content}\n\nAssistant:", system="{content}\n\n", prefix="{bos}"),
    "deepseek3": lf("<｜User｜>{content}<｜Assistant｜>", prefix="{bos}"),
    "deepseekcoder": lf("### Instruction:\n{content}\n### Response:",
                        assistant="\n{content}\n<|EOT|>\n", prefix="{bos}",
                        default_system="You are an AI programming assistant, utilizing the "
                        "DeepSeek Coder model, developed by DeepSeek Company, "
                        + _CODER_REFUSAL),
    # IBM Granite
    "granite3": _GRANITE,
    "granite4": {**_GRANITE, "default_system": "You are Granite, developed by IBM. You are a "
                 "helpful AI assistant."},
    # other model families
    "bailing": lf("<role>HUMAN</role>{content}<role>ASSISTANT</role>",
                  system="<role>SYSTEM</role>{content}", efficient_eos=True),
    "bailing_v2": lf("<role>HUMAN</role>{content}<|role_end|><role>ASSISTANT</role>",
                     assistant="{content}<|role_end|>",
                     system="<role>SYSTEM</role>{content}<|role_end|>", efficient_eos=True),
    "breeze": lf("[INST] {content} [/INST] ", prefix="{bos}", efficient_eos=True),
    "cohere": lf("<|START_OF_TURN_TOKEN|><|USER_TOKEN|>{content}<|END_OF_TURN_TOKEN|>"
                 "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>", prefix="{bos}",
                 system="<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>{content}"
                 "<|END_OF_TURN_TOKEN|>"),
    "ernie_nothink": lf("User: {content}\nAssistant: ", assistant="{content}<|end_of_sentence|>",
                        system="{content}\n", prefix="<|begin_of_sentence|>"),
    "exaone": lf("[|user|]{content}\n[|assistant|]", assistant="{content}{eos}\n",
                 system="[|system|]{content}[|endofturn|]\n"),
    "falcon": lf("User: {content}\nFalcon:", assistant="{content}\n", efficient_eos=True),
    "hunyuan": lf("{content}<|extra_0|>", assistant="{content}<|eos|>",
                  system="{content}<|extra_4|>", prefix="<|startoftext|>"),
    "hunyuan_small": lf("<｜hy_User｜>{content}<｜hy_place▁holder▁no▁8｜>",
                        assistant="{content}<｜hy_place▁holder▁no▁2｜>",
                        system="{content}<｜hy_place▁holder▁no▁3｜>",
                        prefix="<｜hy_begin▁of▁sentence｜>"),
    "index": lf("reserved_0{content}reserved_1", system="<unk>{content}", efficient_eos=True),
    "minimax1": lf("<beginning_of_sentence>user name=user\n{content}<end_of_sentence>\n"
                   "<beginning_of_sentence>ai name=assistant\n",
                   assistant="{content}<end_of_sentence>\n",
                   system="<beginning_of_sentence>system ai_setting=assistant\n{content}"
                   "<end_of_sentence>\n", default_system="You are a helpful assistant."),
    "olmo": lf("<|user|>\n{content}<|assistant|>\n", prefix="{eos}"),
    "openchat": lf("GPT4 Correct User: {content}{eos}GPT4 Correct Assistant:",
                   prefix="{bos}"),
    "openchat-3.6": lf("<|start_header_id|>GPT4 Correct User<|end_header_id|>\n\n{content}"
                       "<|eot_id|><|start_header_id|>GPT4 Correct Assistant<|end_header_id|>"
                       "\n\n", prefix="{bos}"),
    "seed_coder": lf("{bos}user\n{content}{eos}{bos}assistant\n",
                     system="{bos}system\n{content}{eos}",
                     default_system="You are an AI programming assistant, utilizing the "
                     "Seed-Coder model, developed by ByteDance Seed, " + _CODER_REFUSAL + "\n"),
    "starchat": lf("<|user|>\n{content}<|end|>\n<|assistant|>", assistant="{content}<|end|>\n",
                   system="<|system|>\n{content}<|end|>\n"),
    "telechat2": lf("<_user>{content}<_bot>", system="<_system>{content}",
                    default_system="你是中国电信星辰语义大模型，英文名是TeleChat，你是由中电信"
                    "人工智能科技有限公司和中国电信人工智能研究院（TeleAI）研发的人工智能助手。"),
    "xuanyuan": lf("Human: {content} Assistant:",
                   default_system="以下是用户和人工智能助手之间的对话。用户以Human开头，人工"
                   "智能助手以Assistant开头，会对人类提出的问题给出有帮助、高质量、详细和礼貌"
                   "的回答，并且总是拒绝参与与不道德、不安全、有争议、政治敏感等相关的话题、"
                   "问题和指示。\n"),
    "yuan": lf("{content}<sep>", assistant="{content}<eod>\n"),
    "zephyr": lf("<|user|>\n{content}{eos}<|assistant|>\n", system="<|system|>\n{content}{eos}",
                 default_system="You are Zephyr, a helpful assistant."),
    # formats for base models, not tied to one family
    "alpaca": lf("### Instruction:\n{content}\n\n### Response:\n",
                 assistant="{content}{eos}\n\n",
                 default_system="Below is an instruction that describes a task. Write a "
                 "response that appropriately completes the request.\n\n"),
    "default": lf("Human: {content}{eos}\nAssistant:", assistant="{content}{eos}\n",
                  system="System: {content}{eos}\n"),
    "empty": lf("{content}", assistant="{content}"),
    "fewshot": lf("{content}", assistant="{content}\n\n", efficient_eos=True),
    "solar": lf("### User:\n{content}\n\n### Assistant:\n", system="### System:\n{content}\n\n",
                efficient_eos=True),
    "vicuna": lf("USER: {content} ASSISTANT:", default_system=_VICUNA_SYSTEM),
}

#: LLaMA-Factory template name -> what it writes (names plugtune refuses have none here,
#: and neither do the reasoning templates it maps to a thinking family: qwen3,
#: qwen3_vl, deepseekr1).
FORMATS: dict[str, ChatFormat] = {
    name: ChatFormat(origin=f"LLaMA-Factory's template {name!r}", **slots)
    for name, slots in _SLOTS.items()
}
