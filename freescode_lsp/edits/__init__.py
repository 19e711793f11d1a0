"""Model output -> the text for the target region, and line diffs to stream it in.

lines: text as lines and their shape; reading: what a line reads as; answer: the code in an answer;
cleanup: an answer to the region's new text; diff: line edits; streaming: cleaning while the answer streams.
"""

from freescode_lsp.edits.answer import region_statements
from freescode_lsp.edits.cleanup import CleanResult, clean_output, is_patch_or_fragment
from freescode_lsp.edits.diff import LineEdit, apply_line_edits, line_edits, partial_target
from freescode_lsp.edits.lines import lines_with_ends, split_lines
from freescode_lsp.edits.streaming import StreamingRewrite

__all__ = [
    "CleanResult",
    "LineEdit",
    "StreamingRewrite",
    "apply_line_edits",
    "clean_output",
    "is_patch_or_fragment",
    "line_edits",
    "lines_with_ends",
    "partial_target",
    "region_statements",
    "split_lines",
]
