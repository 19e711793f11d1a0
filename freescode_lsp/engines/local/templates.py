"""Prompts for llama.cpp models: the GGUF's own chat template, or plain text for models without one."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from freescode_lsp.engines.base import Message

if TYPE_CHECKING:
    from llama_cpp import Llama

ChatRenderer = Callable[[list[dict[str, str]]], str]


def plain_chat_prompt(messages: list[Message]) -> str:
    """Messages as plain text, for models without a chat template."""
    parts = [f"{message.role.capitalize()}: {message.content}" for message in messages]
    return "\n\n".join(parts) + "\n\nAssistant:"


def chat_template(llama: Llama) -> ChatRenderer | None:
    """A renderer for the model's own chat template (without its leading BOS), or None when it has none."""
    source = (getattr(llama, "metadata", None) or {}).get("tokenizer.chat_template")
    if not source:
        return None
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    def token_text(token: int) -> str:
        return llama.detokenize([token], special=True).decode("utf-8", errors="ignore")

    formatter = Jinja2ChatFormatter(
        template=source, eos_token=token_text(llama.token_eos()), bos_token=token_text(llama.token_bos())
    )

    def render(messages: list[dict[str, str]]) -> str:
        # llama_cpp types the messages as its request TypedDicts; role/content dicts are what it reads
        text = formatter(messages=messages).prompt  # type: ignore[arg-type]
        bos = token_text(llama.token_bos())
        return text[len(bos) :] if bos and text.startswith(bos) else text

    return render
