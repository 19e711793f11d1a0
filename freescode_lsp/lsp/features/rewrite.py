"""A rewrite streaming into one region of one document, without ever losing the user's text.

At most one edit is in flight. The next is computed only after the client's didChange shows the
previous one landed, so versions are never guessed; a change outside the region moves the region,
a change inside it (or a refusal no user change explains) stops the rewrite. Neovim applies an edit
stamped with version 0 unchecked; stamped 1 instead, it is dropped once the user has typed. Neovim
drops silently (any edit stamped older than its buffer) and still answers "applied": so an edit has
landed only when a didChange shows it, and a didChange newer than its stamp that does not show it
means it was dropped; it is then re-based and sent again, like an edit VS Code refuses. When the
editor keeps edits from landing (unexplained refusals, drops again and again, no didChange at all),
`settle` puts the region's original text back: the user gets the whole rewrite or none of it, and
is told which.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from attrs import define
from lsprotocol import types

from freescode_lsp.edits import line_edits
from freescode_lsp.errors import FreescodeError

if TYPE_CHECKING:
    from pygls.workspace import TextDocument

    from freescode_lsp.lsp.server import FreescodeServer

LANDING_TIMEOUT_S = 5.0
REFUSAL_GRACE_S = 1.0
MAX_REBASES = 8
SEARCH_RADIUS = 400


@define
class InFlight:
    """An edit sent to the client and not yet seen in a didChange; `passed` once a newer one came without it."""

    version: int
    after: list[str]
    passed: bool = False


class RewriteStopped(FreescodeError):
    """The rewrite stopped; the message says why, for the user."""


class RewriteSession:
    """Tracks the region [start, end) of a document while a model rewrites it."""

    def __init__(self, server: FreescodeServer, uri: str, start: int, end: int, label: str) -> None:
        self.server = server
        self.uri = uri
        self.start = start
        self.end = end
        self.label = label
        document = self._document()
        self.version = document.version or 0
        self.original = [line.rstrip("\r\n") for line in document.lines[start:end]]
        self.expected = list(self.original)
        self.eol = eol_of(document)
        self.in_flight: InFlight | None = None
        self.stopped: str | None = None
        self.undo = False
        self.edits_sent = 0
        self.rebases = 0
        self.on_stop: Callable[[str], None] | None = None
        self._changed = asyncio.Event()

    def _document(self) -> TextDocument:
        return self.server.workspace.get_text_document(self.uri)

    def stop(self, reason: str, undo: bool = False) -> None:
        """Stop for good; nothing more is applied but, with `undo`, what `settle` sends to undo the rewrite."""
        if self.stopped is None:
            self.stopped = reason
            self.undo = undo
            if self.on_stop is not None:
                self.on_stop(reason)
        self._changed.set()

    def on_change(self, changes: Sequence[types.TextDocumentContentChangeEvent]) -> None:
        """Follow a didChange: shift the region, see our edit land, or stop if the user typed inside."""
        if self.stopped is not None:
            return
        for change in changes:
            if isinstance(change, types.TextDocumentContentChangePartial):
                self._shift(change)
        document = self._document()
        self.version = document.version or self.version
        lines = [line.rstrip("\r\n") for line in document.lines]
        choices = [self.expected] + ([self.in_flight.after] if self.in_flight is not None else [])
        found = _locate(lines, choices, self.start)
        if found is None:
            self.stop("you edited the code being rewritten, so the rewrite stopped; your text is kept as you left it")
            return
        self.start, which = found
        content = choices[which]
        self.end = self.start + len(content)
        if which == 1:
            self.expected = content
            self.in_flight = None
            self.rebases = 0
        elif self.in_flight is not None and self.version > self.in_flight.version:
            self.in_flight.passed = True
        self._changed.set()

    def _shift(self, change: types.TextDocumentContentChangePartial) -> None:
        removed = change.range.end.line - change.range.start.line
        delta = change.text.count("\n") - change.text.count("\r\n") + change.text.count("\r") - removed
        if change.range.end.line < self.start:
            self.start += delta
            self.end += delta
        elif change.range.start.line >= self.start and change.range.end.line < self.end:
            self.end += delta

    async def _wait(self, ready: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not ready():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                return ready()
        return True

    async def apply(self, target: list[str]) -> None:
        """Bring the region to `target` (lines without terminators); RewriteStopped if that cannot be done."""
        while True:
            if self.stopped is not None:
                raise RewriteStopped(self.stopped)
            if self.in_flight is not None:
                # Whatever ended the wait (landed, dropped, stopped), decide again from the top: an edit sent
                # after a stop would land on the user's typing.
                if not await self._wait(
                    lambda: self.in_flight is None or self.in_flight.passed or self.stopped is not None,
                    LANDING_TIMEOUT_S,
                ):
                    self.stop("the editor did not report our last edit, so the rewrite stopped", undo=True)
                elif self.in_flight is not None and self.in_flight.passed:
                    self.in_flight = None
                    self._rebase("the editor dropped an edit that crossed your typing")
                continue
            if self.expected == target:
                return
            await self._send(target)

    async def _send(self, target: list[str]) -> None:
        document = self._document()
        version = document.version or 0
        stamp = 1 if version == 0 and self.server.client_name == "Neovim" else version
        edits = self._text_edits(document, target)
        self.in_flight = InFlight(version, list(target))
        self.edits_sent += 1
        params = types.ApplyWorkspaceEditParams(
            edit=types.WorkspaceEdit(
                document_changes=[
                    types.TextDocumentEdit(
                        text_document=types.OptionalVersionedTextDocumentIdentifier(uri=self.uri, version=stamp),
                        edits=edits,
                    )
                ]
            ),
            label=self.label,
        )
        try:
            result = await asyncio.shield(self.server.workspace_apply_edit_async(params))
        except Exception as exc:  # noqa: BLE001 - a client error ends the rewrite; settle undoes it
            self.in_flight = None
            self.stop(f"the editor failed to apply an edit ({exc}), so the rewrite stopped", undo=True)
            return
        if result.applied:
            return
        if self.in_flight is None:
            return
        explained = await self._wait(
            lambda: self.stopped is not None or (self._document().version or 0) != version, REFUSAL_GRACE_S
        )
        if self.in_flight is None or self.stopped is not None:
            return
        self.in_flight = None
        reason = f"the editor refused an edit ({result.failure_reason or 'no reason given'})"
        if not explained:
            self.stop(f"{reason}, so the rewrite stopped", undo=True)
        else:
            self._rebase(reason)

    def _rebase(self, reason: str) -> None:
        """The last edit did not land because the user typed: send it again, unless that keeps happening."""
        self.rebases += 1
        if self.rebases > MAX_REBASES:
            self.stop(f"{reason} {self.rebases} times in a row, so the rewrite stopped", undo=True)

    async def settle(self, reason: str) -> str:
        """After a stop the user did not cause, bring the original text back; the reason, saying how it ended."""
        if self.stopped is None or not self.undo:
            return reason
        if self.expected == self.original and self.in_flight is None:
            return f"{reason}; nothing was changed"
        lines = [line.rstrip("\r\n") for line in self._document().lines]
        choices = [self.expected] + ([self.in_flight.after] if self.in_flight is not None else [])
        found = _locate(lines, choices, self.start)
        if found is not None:
            self.start, which = found
            self.expected = choices[which]
            self.end = self.start + len(self.expected)
            self.in_flight, self.stopped, self.rebases = None, None, 0
            try:
                await self.apply(self.original)
                return f"{reason}; the original code is back"
            except RewriteStopped:
                pass
            finally:
                self.stopped = self.stopped or reason
        return f"{reason}; part of the rewrite could not be undone, check the code"

    def _text_edits(self, document: TextDocument, target: list[str]) -> list[types.TextEdit]:
        total = len(document.lines)
        ends_open = total > 0 and not document.lines[-1].endswith(("\n", "\r"))
        edits = []
        for edit in line_edits(self.expected, target):
            first, last = self.start + edit.start, self.start + edit.end
            if last < total or not ends_open:
                start = types.Position(first, 0)
                end = types.Position(last, 0)
                text = "".join(line + self.eol for line in edit.new_lines)
            else:
                tail = document.lines[-1]
                end = types.Position(total - 1, document.position_codec.client_num_units(tail))
                if first == last:
                    start, text = end, "".join(self.eol + line for line in edit.new_lines)
                else:
                    start, text = types.Position(first, 0), self.eol.join(edit.new_lines)
            edits.append(types.TextEdit(range=types.Range(start, end), new_text=text))
        return edits


def eol_of(document: TextDocument) -> str:
    """The document's line ending, from its first terminated line."""
    for line in document.lines:
        if line.endswith("\r\n"):
            return "\r\n"
        if line.endswith("\n"):
            return "\n"
        if line.endswith("\r"):
            return "\r"
    return "\n"


def _locate(lines: list[str], choices: list[list[str]], near: int) -> tuple[int, int] | None:
    """Where one of the expected contents stands, nearest to `near` first: (start, which)."""
    for distance in range(0, SEARCH_RADIUS + 1):
        for start in {near - distance, near + distance}:
            if start < 0 or start > len(lines):
                continue
            for which in (1, 0) if len(choices) > 1 else (0,):
                content = choices[which]
                if lines[start : start + len(content)] == content:
                    return start, which
    return None
