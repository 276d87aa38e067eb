"""Retrieved passages -> the prompt.

The passages go into the **last user message**, through a text template with
``{context}`` and ``{question}``, rather than into the system message: not every chat
template has a system role (gemma and mistral fold it into the first user turn), a
system message is shared by the whole conversation while the passages answer this one
question, and models fine-tuned on instruction data follow context placed next to the
question best. Only passages whose cosine distance is at most ``max_distance`` are used;
when none is that close, the conversation is returned unchanged, so an unrelated
question is asked plainly instead of with misleading context.

Any retriever plugin works: one that only has ``retrieve(question, k)`` gets the
defaults below, and may return strings or objects with ``text`` (and optionally
``source`` and ``distance``) instead of :class:`~plugtune.rag.store.Passage`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from plugtune.core.config import RunConfig
from plugtune.core.errors import ConfigError
from plugtune.core.records import Conversation, Message, Passage
from plugtune.core.session import Session

DEFAULT_K = 3
# Cosine distance of normalized MiniLM embeddings: related passages measured here lie
# around 0.3-0.6, unrelated ones around 0.8-1.0 (docs/inference.md, RAG).
DEFAULT_MAX_DISTANCE = 0.6
DEFAULT_PROMPT_TEMPLATE = (
    "Answer the question using the context below when it helps.\n\n"
    "Context:\n{context}\n\nQuestion: {question}"
)


def check_prompt_template(template: str) -> str:
    """``template`` if it has both placeholders and no others (a pydantic validator)."""
    missing = [name for name in ("context", "question") if f"{{{name}}}" not in template]
    if missing:
        raise ValueError(f"needs {{{missing[0]}}}")
    try:
        template.format(context="", question="")
    except (KeyError, IndexError, ValueError) as error:
        raise ValueError(f"only {{context}} and {{question}} may appear in braces "
                         f"(double other braces): {error}") from None
    return template


def format_context(passages: Sequence[Passage]) -> str:
    """Numbered passages with their source, the way the template's ``{context}`` gets them."""
    return "\n\n".join(
        f"[{number}]" + (f" ({passage.source})" if passage.source else "") + f"\n{passage.text}"
        for number, passage in enumerate(passages, start=1)
    )


def inject_context(conversation: Conversation, passages: Sequence[Passage], *,
                   max_distance: float | None = DEFAULT_MAX_DISTANCE,
                   template: str = DEFAULT_PROMPT_TEMPLATE) -> tuple[Conversation, list[Passage]]:
    """The conversation with the close-enough passages in its last user message, and
    those passages; ``(conversation, [])`` unchanged when none passes or there is no
    user message. ``max_distance`` None keeps every passage."""
    kept = [passage for passage in passages
            if max_distance is None or passage.distance is None
            or passage.distance <= max_distance]
    position = _last_user(conversation)
    if not kept or position is None:
        return conversation, []
    question = conversation.messages[position]
    content = template.format(context=format_context(kept), question=question.content)
    messages = list(conversation.messages)
    messages[position] = Message(question.role, content, question.tool_calls,
                                 question.reasoning, question.name)
    return (Conversation(tuple(messages), conversation.tools, conversation.meta,
                         conversation.origin), kept)


@dataclass
class ContextInjector:
    """A retriever plus how its passages are used: ``augment`` asks it about the last
    user message and injects what is close enough."""

    retriever: Any
    k: int = DEFAULT_K
    max_distance: float | None = DEFAULT_MAX_DISTANCE
    template: str = DEFAULT_PROMPT_TEMPLATE

    @classmethod
    def for_retriever(cls, retriever: Any) -> ContextInjector:
        """Settings from the retriever's own ``k``, ``max_distance`` and
        ``prompt_template`` attributes where it has them (``chroma`` does)."""
        return cls(retriever, getattr(retriever, "k", DEFAULT_K),
                   getattr(retriever, "max_distance", DEFAULT_MAX_DISTANCE),
                   getattr(retriever, "prompt_template", DEFAULT_PROMPT_TEMPLATE))

    def augment(self, conversation: Conversation) -> tuple[Conversation, list[Passage]]:
        """The conversation to send, and the passages it now holds."""
        position = _last_user(conversation)
        if position is None:
            return conversation, []
        found = self.retriever.retrieve(conversation.messages[position].content, self.k)
        passages = [_as_passage(item) for item in found]
        return inject_context(conversation, passages, max_distance=self.max_distance,
                              template=self.template)

    def __call__(self, conversation: Conversation) -> Conversation:
        """Only the conversation to send (what chat and the server need)."""
        return self.augment(conversation)[0]


def load_injector(config: RunConfig, session: Session) -> ContextInjector:
    """The config's ``retriever`` built and wrapped; an error when there is none."""
    if config.retriever is None:
        raise ConfigError(
            "RAG needs a retriever in the config, e.g. "
            "retriever: {name: chroma, db: path/to/store} (build the store with "
            "`plugtune rag index DOCS --db path/to/store`)"
        )
    retriever = session.build("retrievers", config.retriever)
    # A retriever that opens lazily (chroma: for config validation) opens now, so that
    # a missing store fails before the model loads and no first answer waits on it.
    open_now = getattr(retriever, "open", None)
    if callable(open_now):
        open_now()
    return ContextInjector.for_retriever(retriever)


def _last_user(conversation: Conversation) -> int | None:
    for position in range(len(conversation.messages) - 1, -1, -1):
        if conversation.messages[position].role == "user":
            return position
    return None


def _as_passage(item: Any) -> Passage:
    if isinstance(item, Passage):
        return item
    if isinstance(item, str):
        return Passage(item)
    text = getattr(item, "text", None)
    if not isinstance(text, str):
        raise ConfigError(f"a retriever returned {type(item).__name__}, not a passage "
                          "(a string, or an object with a text attribute)")
    return Passage(text, getattr(item, "source", None), getattr(item, "distance", None))
