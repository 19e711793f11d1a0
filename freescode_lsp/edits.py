"""Model output -> the text for the target region, and line diffs to stream it in."""

from __future__ import annotations

import bisect
import difflib
import functools
import logging
import os
import re

from attrs import define, field

MAX_GROWTH = 20
MAX_LINES = 200
log = logging.getLogger(__name__)

_NEWLINE = re.compile(r"\r\n|\r|\n")
_LINE_WITH_END = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
_FENCE_OPEN = re.compile(r"^\s*(`{3,})\s*([^`\s]*)[^`]*$")
_FENCE_CLOSE = re.compile(r"^\s*(`{3,})\s*$")
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
_DEF = re.compile(
    r"^\s*(?:[\w()]+\s+)*?(def|class|fn|function|func|struct|enum|trait|impl|interface|module|sub)"
    r"\s+((?:[^\W\d]|\$)[\w$]*)"
)
_COMMENT = re.compile(r"^\s*(?:#|//|--|/\*|\*)")
_ELIDED = re.compile(
    r"(?:\.\.\.|…).*\b(?:rest|remaining|unchanged|existing|same|omitted|previous|other)\b"
    r"|\b(?:rest|remainder) of (?:the )?(?:code|function|file|class|method|body|implementation)\b"
    r"|\bunchanged\b|\bomitted for brevity\b|\bexisting code\b",
    re.IGNORECASE,
)
_TRIVIAL = {"pass", "else:", "try:", "finally:", "return", "break", "continue", "end", "});"}
_CONTINUES = re.compile(r"^\s*(?:[\])}]+[;,)]*\s*$|(?:else|elif|except|finally|end|fi|done|esac)\b)")
_TAGS = {
    "python": {"python", "py", "python3", "py3"},
    "javascript": {"javascript", "js", "jsx", "node", "mjs"},
    "javascriptreact": {"javascript", "js", "jsx"},
    "typescript": {"typescript", "ts", "tsx"},
    "typescriptreact": {"typescript", "ts", "tsx"},
    "rust": {"rust", "rs"},
    "cpp": {"cpp", "c++", "cc", "cxx", "hpp"},
    "csharp": {"csharp", "cs", "c#"},
    "go": {"go", "golang"},
    "shellscript": {"sh", "bash", "shell", "zsh"},
}


@define(frozen=True)
class CleanResult:
    """The text to put in the region, or None and why the answer cannot be used."""

    text: str | None
    reason: str | None = None
    dropped: tuple[str, ...] = ()


@define(frozen=True)
class LineEdit:
    """Replace old lines [start, end) with new_lines; 0-based, relative to the region."""

    start: int
    end: int
    new_lines: list[str]


@define
class _Block:
    """One fenced block of a model's answer."""

    tag: str
    lines: list[str] = field(factory=list)
    implicit: bool = False


def lines_with_ends(text: str) -> list[str]:
    """Lines with their terminators, split only on \\r\\n, \\r and \\n (not at form feeds or U+2028)."""
    return _LINE_WITH_END.findall(text)


def split_lines(text: str) -> list[str]:
    """Lines without terminators, split only on \\r\\n, \\r and \\n as LSP and Python do."""
    lines = _NEWLINE.split(text)
    if lines[-1] == "":
        lines.pop()
    return lines


def clean_output(raw: str, original: str, language: str | None = None) -> CleanResult:
    """The code in a model's answer, re-indented and framed like the region it replaces."""
    if not raw.strip():
        return CleanResult(None, "the model returned nothing")
    old = split_lines(original)
    body = _answer_lines(split_lines(raw), language, old)
    if not body:
        return CleanResult(None, "the model's answer held no code")
    if len(body) > MAX_LINES and len(body) > MAX_GROWTH * max(len(old), 1):
        reason = f"the model's answer ({len(body)} lines) is far larger than the {len(old)} lines it replaces"
        return CleanResult(None, reason)
    body, dropped = region_statements(body, old)
    if dropped:
        log.warning("dropped top-level lines the region did not have from the model's answer:\n%s", "\n".join(dropped))
    lines = _leading_blanks(old) + _rebase(body, old) + _trailing_blanks(old)
    eol = _eol(original)
    return CleanResult(eol.join(lines) + (eol if original.endswith(("\n", "\r")) else ""), None, tuple(dropped))


def is_patch_or_fragment(answer: str, original: str) -> bool:
    """True when the answer is a diff or a piece of the region, not a whole replacement."""
    blocks = _blocks(split_lines(answer))
    lines = _choose(blocks, None, split_lines(original)) if blocks else split_lines(answer)
    indent = len(_common_indent(lines))
    code = [line[indent:] for line in lines if line.strip()]
    if not code:
        return False
    old = [line for line in split_lines(original) if line.strip()]
    if _is_diff(code, old):
        return True
    old_stripped = {line.strip() for line in old}
    if any(_is_elision(line) and line.strip() not in old_stripped for line in code):
        return True
    header = _header(old)
    if header is None:
        return False
    defs = [m.groups() for m in map(_DEF.match, code) if m]
    return header not in defs and (not defs or 2 * len(code) < len(old))


class StreamingRewrite:
    """A model's answer cleaned while it streams: final lines early, the exact text at the end."""

    def __init__(self, original: str, language: str | None = None) -> None:
        """Start a rewrite of the region whose current text is original."""
        self._original = original
        self._language = language
        self._old = split_lines(original)
        self._pieces: list[str] = []
        self._done_len = -1
        self._done_lines: list[str] = []
        self.result: CleanResult | None = None

    @property
    def text(self) -> str:
        """Everything fed so far."""
        if len(self._pieces) > 1:
            self._pieces = ["".join(self._pieces)]
        return self._pieces[0] if self._pieces else ""

    def feed(self, piece: str) -> None:
        """Take the next piece of the model's answer."""
        self._pieces.append(piece)

    def complete_lines(self) -> list[str]:
        """Cleaned lines of the region that the answer so far makes final (held back when unsure)."""
        text = self.text
        done_len = max(text.rfind("\n"), text.rfind("\r")) + 1
        if done_len != self._done_len:
            self._done_len = done_len
            body = _answer_lines(split_lines(text[:done_len]), self._language, self._old)
            header = _header(self._old)
            unseen = header is not None and _header_line(body, header) is None
            body = [] if unseen else region_statements(body, self._old)[0]
            self._done_lines = _leading_blanks(self._old) + _rebase(body, self._old) if body else []
        return list(self._done_lines)

    def finish(self) -> str:
        """The final text, clean_output of the whole answer; the original text if unusable (see result)."""
        self.result = clean_output(self.text, self._original, self._language)
        return self._original if self.result.text is None else self.result.text


def line_edits(old_lines: list[str], new_lines: list[str]) -> list[LineEdit]:
    """The changed line ranges from old to new, bottom-up so each applies without shifting the next."""
    matcher = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False)
    edits = [
        LineEdit(i1, i2, list(new_lines[j1:j2]))
        for tag, i1, i2, j1, j2 in matcher.get_opcodes()
        if tag != "equal"
    ]
    return edits[::-1]


def apply_line_edits(old_lines: list[str], edits: list[LineEdit]) -> list[str]:
    """Old lines with non-overlapping edits applied, bottom-up whatever their order."""
    lines = list(old_lines)
    for edit in sorted(edits, key=lambda e: (e.start, e.end), reverse=True):
        lines[edit.start : edit.end] = edit.new_lines
    return lines


def partial_target(old_lines: list[str], done_new_lines: list[str], final: bool = False) -> list[str]:
    """The region mid-stream: final new lines, then old lines a greedy forward match has not consumed."""
    if final:
        return list(done_new_lines)
    return list(done_new_lines) + list(old_lines[_consumed(old_lines, done_new_lines) :])


def _consumed(old_lines: list[str], new_lines: list[str]) -> int:
    """How many old lines the new lines replace, moving only forward."""
    where: dict[str, list[int]] = {}
    for i, line in enumerate(old_lines):
        where.setdefault(line.strip(), []).append(i)
    pos = 0
    for line in new_lines:
        key = line.strip()
        ahead = old_lines[pos].strip() if pos < len(old_lines) else None
        if key == ahead:
            pos += 1
        elif not _trivial(key):
            places = where.get(key, [])
            found = bisect.bisect_left(places, pos)
            if found < len(places):
                pos = places[found] + 1
            elif ahead is not None and not _trivial(ahead) and _similar(ahead, key):
                pos += 1
    return pos


@functools.lru_cache(maxsize=8192)
def _similar(old: str, new: str) -> bool:
    """Whether new reads as an edit of old rather than a line of its own."""
    return difflib.SequenceMatcher(None, old, new).ratio() >= 0.6


def _trivial(key: str) -> bool:
    """A line too common to align on anywhere but the very next old line."""
    return len(key) <= 3 or key in _TRIVIAL or not re.search(r"\w", key)


def _answer_lines(lines: list[str], language: str | None, old: list[str] | None = None) -> list[str]:
    """The code lines of an answer: the chosen fenced block, or the code between prose."""
    blocks = _blocks(lines)
    body = _choose(blocks, language, old or []) if blocks else _unfenced_code(lines)
    return _strip_blank(body)


def region_statements(body: list[str], old: list[str]) -> tuple[list[str], list[str]]:
    """The answer without top-level statements a region of definitions did not have, and the lines dropped.

    Only for an answer that rewrites a region starting with a definition (it has that definition): there, a
    line at the definition's level must start a definition (or a decorator or comment before one) or be a
    line of the region itself; the lines of any other statement are dropped.
    """
    at = _header_line(body, _header(old))
    code = [line.strip() for line in body if line.strip()]
    if at is None or _is_diff(code, [line.strip() for line in old if line.strip()]):
        return body, []
    known = {line.strip() for line in old}
    top = len(body[at]) - len(body[at].lstrip(" \t"))
    kept: list[str] = []
    dropped: list[str] = []
    keep = True
    inside: str | None = None
    for line in body:
        text = line.strip()
        if inside is None and text and len(line) - len(line.lstrip(" \t")) <= top and not _CONTINUES.match(line):
            keep = bool(_DEF.match(line)) or text.startswith(("@", "#[")) or bool(_COMMENT.match(line)) or text in known
        (kept if keep else dropped).append(line)
        inside = _string_state(line, inside)
    return _strip_blank(kept), [line for line in dropped if line.strip()]


def _header_line(lines: list[str], header: tuple[str, str] | None) -> int | None:
    """Where the lines define what the header names, if they do."""
    if header is None:
        return None
    for index, line in enumerate(lines):
        match = _DEF.match(line)
        if match and (match.group(1), match.group(2)) == header:
            return index
    return None


def _blocks(lines: list[str]) -> list[_Block]:
    """Fenced blocks; an unclosed last one counts, and a bare fence after code closes that code."""
    blocks: list[_Block] = []
    marker: str | None = None
    for i, line in enumerate(lines):
        if marker is not None:
            close = _FENCE_CLOSE.match(line)
            if close and len(close.group(1)) >= len(marker):
                marker = None
            else:
                blocks[-1].lines.append(line)
            continue
        fence = _FENCE_OPEN.match(line)
        if fence is None:
            continue
        before = [] if blocks or fence.group(2) else _unfenced_code(lines[:i])
        if before:
            blocks.append(_Block("", before, implicit=True))
            continue
        marker = fence.group(1)
        blocks.append(_Block(fence.group(2).lower()))
    return blocks


def _choose(blocks: list[_Block], language: str | None, old: list[str]) -> list[str]:
    """The code the answer began with, else of the blocks tagged with the language (or all) the one that
    rewrites the region (its definition, nothing the region did not have), else the largest."""
    if blocks[0].implicit:
        return blocks[0].lines
    wanted = _TAGS.get(language.lower(), {language.lower()}) if language else set()
    pool = [b for b in blocks if b.tag in wanted] or blocks
    header = _header(old)
    if header is not None:
        pool = [b for b in pool if _header_line(b.lines, header) is not None] or pool
    best = pool[0]
    for block in pool[1:]:
        if _rank(block.lines, old) >= _rank(best.lines, old):
            best = block
    return best.lines


def _rank(lines: list[str], old: list[str]) -> tuple[int, int]:
    """Fewer lines the region did not have first, then more code."""
    return -len(region_statements(lines, old)[1]), _size(lines)


def _size(lines: list[str]) -> int:
    """Non-blank lines."""
    return sum(1 for line in lines if line.strip())


def _unfenced_code(lines: list[str]) -> list[str]:
    """Lines from the first line of code up to the prose that follows it."""
    code: list[str] = []
    inside: str | None = None
    for line in lines:
        if inside is None and _is_prose(line):
            if code:
                break
        elif code or line.strip():
            code.append(line)
        inside = _string_state(line, inside)
    return code


def _string_state(line: str, inside: str | None) -> str | None:
    """Which multi-line string or comment is open after this line."""
    for token in _STRING_TOKENS.findall(line):
        if inside is None and token != "*/":
            inside = "*/" if token == "/*" else token
        elif token == inside:
            inside = None
    return inside


def _is_prose(line: str) -> bool:
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


def _strip_blank(lines: list[str]) -> list[str]:
    """Lines without leading and trailing blank lines."""
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return lines[start:end]


def _leading_blanks(lines: list[str]) -> list[str]:
    """The blank lines the region starts with."""
    code = [i for i, line in enumerate(lines) if line.strip()]
    return lines[: code[0]] if code else list(lines)


def _trailing_blanks(lines: list[str]) -> list[str]:
    """The blank lines the region ends with, after its code."""
    code = [i for i, line in enumerate(lines) if line.strip()]
    return lines[code[-1] + 1 :] if code else []


def _common_indent(lines: list[str]) -> str:
    """The whitespace every non-blank line starts with."""
    indents = [line[: len(line) - len(line.lstrip(" \t"))] for line in lines if line.strip()]
    return os.path.commonprefix(indents) if indents else ""


def _rebase(body: list[str], old: list[str]) -> list[str]:
    """Body shifted so its common indent is the region's common indent."""
    want, have = _common_indent(old), _common_indent(body)
    if want == have:
        return list(body)
    return [want + line[len(have) :] if line.strip() else "" for line in body]


def _eol(text: str) -> str:
    """The text's first line terminator, or \\n."""
    match = _NEWLINE.search(text)
    return match.group() if match else "\n"


def _is_diff(code: list[str], old: list[str]) -> bool:
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


def _is_elision(line: str) -> bool:
    """A line standing for code left out: '...' alone, or a comment like '# rest unchanged'."""
    text = line.strip()
    return text in ("...", "…") or bool(_COMMENT.match(line) and _ELIDED.search(text))


def _header(lines: list[str]) -> tuple[str, str] | None:
    """The (keyword, name) of the definition the region starts with, after decorators and comments."""
    for line in lines:
        text = line.strip()
        if text.startswith(("@", "#[")) or _COMMENT.match(line):
            continue
        match = _DEF.match(line)
        return (match.group(1), match.group(2)) if match else None
    return None
