"""What a line reads as: a definition's header, a comment, prose, a diff, an elision, an open string."""

from __future__ import annotations

import re

DEF = re.compile(
    r"^\s*(?:[\w()]+\s+)*?(def|class|fn|function|func|struct|enum|trait|impl|interface|module|sub)"
    r"\s+((?:[^\W\d]|\$)[\w$]*)"
)
COMMENT = re.compile(r"^\s*(?:#|//|--|/\*|\*)")
_STRING_TOKENS = re.compile(r"\"\"\"|'''|/\*|\*/")
_BULLET = re.compile(r"(?:[-*+]|\d+[.)]) \S")
_HEADING = re.compile(r"#{2,6}\s+\w")
_ENDS = ".:!?\u3002\uff1a\uff01\uff1f"
_PUNCT = f"[,;{_ENDS}\uff0c]?"
_WORD = re.compile(f"[`*_(\"']*[^\\W\\d_][\\w'\u2019`-]*{_PUNCT}[`*_)\"']*{_PUNCT}")
_CODE_START = re.compile(
    r"(?:def|class|return|if|elif|else|for|while|try|except|finally|with|import|from|as"
    r"|async|await|raise|assert|del|global|nonlocal|pass|break|continue|yield|lambda|match"
    r"|case|print|function|fn|let|const|var|pub|use|mod|impl|struct|enum|trait|type"
    r"|interface|package|func|namespace|using|public|private|protected|static|export"
    r"|module|require|include|end|do|then|fi|begin|switch|default|goto|new|throw|not)\b"
)
_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+\d+(?:,\d+)? @@")
_ELIDED = re.compile(
    r"(?:\.\.\.|…).*\b(?:rest|remaining|unchanged|existing|same|omitted|previous|other)\b"
    r"|\b(?:rest|remainder) of (?:the )?(?:code|function|file|class|method|body|implementation)\b"
    r"|\bunchanged\b|\bomitted for brevity\b|\bexisting code\b",
    re.IGNORECASE,
)


def header(lines: list[str]) -> tuple[str, str] | None:
    """The (keyword, name) of the definition the region starts with, after decorators and comments."""
    for line in lines:
        text = line.strip()
        if text.startswith(("@", "#[")) or COMMENT.match(line):
            continue
        match = DEF.match(line)
        return (match.group(1), match.group(2)) if match else None
    return None


def header_line(lines: list[str], wanted: tuple[str, str] | None) -> int | None:
    """Where the lines define what the header names, if they do."""
    if wanted is None:
        return None
    for index, line in enumerate(lines):
        match = DEF.match(line)
        if match and (match.group(1), match.group(2)) == wanted:
            return index
    return None


def string_state(line: str, inside: str | None) -> str | None:
    """Which multi-line string or comment is open after this line."""
    for token in _STRING_TOKENS.findall(line):
        if inside is None and token != "*/":
            inside = "*/" if token == "/*" else token
        elif token == inside:
            inside = None
    return inside


def is_prose(line: str) -> bool:
    """A line of explanation rather than code: unindented words, no code punctuation."""
    text = line.strip()
    if not text or line[0].isspace():
        return False
    if _BULLET.match(text) or _HEADING.match(text):
        return True
    if not (text[0].isalpha() or text[0] in "*_`") or _CODE_START.match(text):
        return False
    if re.search(r"[=;{}<>]|\w\(", re.sub(r"`[^`]*`", "`x`", text)):
        return False
    words = text.split()
    wordy = sum(1 for word in words if _WORD.fullmatch(word))
    if len(words) == 1:
        return wordy == 1 and (text[0].isupper() or text[-1] in _ENDS)
    return wordy / len(words) >= 0.75 and (len(words) >= 3 or text[-1] in _ENDS)


def is_diff(code: list[str], old: list[str]) -> bool:
    """Whether lines read as a diff (hunks, file headers, or mostly +/- lines) where the region does not."""
    if any(_HUNK.match(line) for line in code):
        return True
    if any(line.startswith("--- ") for line in code) and any(line.startswith("+++ ") for line in code):
        return True
    return _diff_share(code) >= 0.5 > _diff_share(old)


def _diff_share(lines: list[str]) -> float:
    """The share of lines that read like the +/- lines of a diff."""
    if not lines:
        return 0.0
    marked = sum(1 for line in lines if line[:1] in "+-" and not line.startswith(("++", "--")))
    return marked / len(lines)


def is_elision(line: str) -> bool:
    """A line standing for code left out: '...' alone, or a comment like '# rest unchanged'."""
    text = line.strip()
    return text in ("...", "…") or bool(COMMENT.match(line) and _ELIDED.search(text))
