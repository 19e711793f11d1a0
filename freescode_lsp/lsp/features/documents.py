"""Reading an open document safely: size and binary checks, language, and the region a task works on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from attrs import evolve

from freescode_lsp.errors import FreescodeError
from freescode_lsp.lsp.protocol.text_documents import file_name, find_document, text_head, text_size
from freescode_lsp.tasks import inputs
from freescode_lsp.tasks.languages import language_of
from freescode_lsp.tasks.prompts import TaskInput
from freescode_lsp.tasks.requests import TaskArgs

if TYPE_CHECKING:
    from pygls.workspace import TextDocument

    from freescode_lsp.lsp.server import FreescodeServer

BINARY_SNIFF_CHARS = 65536


class UnusableDocument(FreescodeError, ValueError):
    """The document cannot be worked on; the message says why, for the user."""


def open_document(server: FreescodeServer, uri: str) -> TextDocument:
    """The open document, or UnusableDocument when it is not open, too large or binary."""
    document = find_document(server.workspace, uri)
    if document is None:
        raise UnusableDocument(f"{uri} is not open in the editor")
    lost = server.features.documents.lost_reason(uri)
    if lost is not None:
        raise UnusableDocument(f"{lost}; close and reopen {_name(uri)} to go on")
    limit = server.settings.server.max_file_bytes
    size = text_size(document)
    if size > limit:
        raise UnusableDocument(
            f"{_name(uri)} is {size / 1e6:.1f} MB, over the {limit / 1e6:.1f} MB limit ([server] max_file_bytes)"
        )
    if "\x00" in text_head(document, BINARY_SNIFF_CHARS):
        raise UnusableDocument(f"{_name(uri)} looks like a binary file")
    return document


def _name(uri: str) -> str:
    return file_name(uri)


def language_for(document: TextDocument) -> str:
    """The document's language id, from the client if it said, else from the file name."""
    return document.language_id or language_of(document.uri)


def task_region(document: TextDocument, args: TaskArgs) -> tuple[int, int]:
    """Lines [start, end): the selection's whole lines, or the code unit around the cursor; never past the end."""
    try:
        region = inputs.task_region(document.source, language_for(document), args.task, args.line, args.selected_lines())
    except inputs.EmptyText:
        raise UnusableDocument("the document is empty") from None
    except inputs.LinePastEnd as exc:
        raise UnusableDocument(f"line {args.line + 1} is past the end of {_name(document.uri)} ({exc.total} lines)") from None
    except inputs.InDocstring:
        raise UnusableDocument(
            f"line {args.line + 1} of {_name(document.uri)} is in a docstring, not code; "
            "put the cursor in a function or statement, or select the lines to change"
        ) from None
    return region.start, region.end


def current_lines(server: FreescodeServer, args: TaskArgs, version: int | None) -> TaskArgs:
    """The arguments with lines from an older version of the document moved to where that code is now."""
    if args.version is None or version is None or args.version == version:
        return args
    history = server.features.line_history
    line = history.map_line(args.uri, args.line, args.version)
    end_line = history.map_line(args.uri, args.end_line, args.version)
    if line is None or end_line is None:
        name = args.uri.rsplit("/", 1)[-1]
        raise UnusableDocument(
            f"{name} changed too much since this action was offered (version {args.version}, now {version}); "
            "choose the action again"
        )
    return evolve(args, line=line, end_line=end_line, version=version)


def task_input(document: TextDocument, task: str, start: int, end: int) -> TaskInput:
    """The code and its surroundings, as a task's prompt needs them."""
    return inputs.task_input(document.source, language_for(document), task, inputs.TaskRegion(start, end))
