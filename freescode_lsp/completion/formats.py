"""Fill-in-the-middle prompt formats: per model family, or read from a GGUF's FIM token metadata."""

from __future__ import annotations

import re

from attrs import define


@define(frozen=True)
class FimFormat:
    """The markers that wrap prefix and suffix for one model, and the texts that end its answer."""

    family: str
    prefix: str
    suffix: str
    middle: str
    stops: tuple[str, ...] = ()

    @property
    def markers(self) -> tuple[str, ...]:
        """Every special text of the format, which the user's code must not smuggle in."""
        return tuple(text for text in (self.prefix.strip(), self.suffix.strip(), self.middle.strip(), *self.stops) if text)

    def render(self, prefix: str, suffix: str) -> str:
        """The prompt in prefix-suffix-middle order; the model writes what goes between."""
        return f"{self.prefix}{self.clean(prefix)}{self.suffix}{self.clean(suffix)}{self.middle}"

    def clean(self, text: str) -> str:
        """The text without this format's markers, so code cannot open or close the hole itself."""
        for marker in self.markers:
            text = text.replace(marker, "")
        return text


STARCODER = FimFormat(
    "starcoder", "<fim_prefix>", "<fim_suffix>", "<fim_middle>", ("<|endoftext|>", "<file_sep>", "<fim_prefix>")
)
DEEPSEEK = FimFormat("deepseek", "<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>", ("<｜end▁of▁sentence｜>", "<|EOT|>"))
CODELLAMA = FimFormat("codellama", "<PRE> ", " <SUF>", " <MID>", ("<EOT>", " <EOT>"))
QWEN = FimFormat(
    "qwen",
    "<|fim_prefix|>",
    "<|fim_suffix|>",
    "<|fim_middle|>",
    ("<|endoftext|>", "<|fim_pad|>", "<|file_sep|>", "<|repo_name|>", "<|im_end|>", "<|fim_prefix|>"),
)

_FAMILIES: tuple[tuple[re.Pattern[str], FimFormat], ...] = (
    (re.compile(r"qwen[\d.]*-?coder", re.IGNORECASE), QWEN),
    (re.compile(r"deepseek-?coder", re.IGNORECASE), DEEPSEEK),
    (re.compile(r"code-?llama", re.IGNORECASE), CODELLAMA),
    (re.compile(r"starcoder", re.IGNORECASE), STARCODER),
)
_INSTRUCTION_TUNED = re.compile(r"instruct|wizard", re.IGNORECASE)


def family_format(model_id: str, file_name: str | None = None) -> FimFormat | None:
    """The FIM format a model's family was trained with; None for models without FIM (gemma, mistral).

    DeepSeek Coder's instruct models lost FIM in their tuning (Code Llama's and Qwen2.5-Coder's kept it),
    which the id or the weight file's name tells.
    """
    names = f"{model_id} {file_name or ''}"
    for pattern, found in _FAMILIES:
        if pattern.search(names):
            if found.family == "deepseek" and _INSTRUCTION_TUNED.search(names):
                return None
            return found
    return None


def from_token_texts(prefix: str, suffix: str, middle: str, stops: tuple[str, ...] = ()) -> FimFormat:
    """A format made of a model's own FIM token texts, as its vocabulary spells them."""
    for known in (STARCODER, DEEPSEEK, QWEN, CODELLAMA):
        if (prefix, suffix, middle) == (known.prefix.strip(), known.suffix.strip(), known.middle.strip()):
            return FimFormat(known.family, prefix, suffix, middle, tuple(dict.fromkeys((*stops, *known.stops))))
    return FimFormat("gguf", prefix, suffix, middle, stops)
