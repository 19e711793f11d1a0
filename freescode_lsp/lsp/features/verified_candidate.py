"""The best candidate of a verified fix that did not pass: kept per document and offered as its own code action."""

from __future__ import annotations

from attrs import frozen
from lsprotocol import types

from freescode_lsp.verify.loop import FixTarget, VerifyResult

APPLY_COMMAND = "freescode.applyCandidate"
KIND = "quickfix.freescode.fixVerified.unverified"


@frozen
class Candidate:
    """Checked code for lines [start, end) of a document at one version: its action's title and what applying it did."""

    uri: str
    version: int | None
    start: int
    end: int
    text: str
    model: str | None
    title: str
    done: str

    def overlaps(self, selection: types.Range) -> bool:
        """Whether the cursor or selection touches the lines the candidate replaces."""
        return selection.start.line < max(self.end, self.start + 1) and selection.end.line >= self.start


def better_candidate(uri: str, version: int | None, target: FixTarget, result: VerifyResult) -> Candidate | None:
    """The best candidate when none passed, if it passed more tests than the original; else None."""
    best = result.best
    if result.passed is not None or best is None or best.candidate is None or best.check is None:
        return None
    passed = best.check.tests_passed()
    if passed <= result.original.tests_passed():
        return None
    counted = max(best.check.tests_counted(), passed)
    title = f"Apply best unverified candidate ({passed} of {counted} tests passed)"
    done = f"applied the best unverified candidate ({passed} of {counted} tests passed; not verified)"
    return Candidate(uri, version, target.start, target.end, best.candidate, best.outcome.model, title, done)


def candidate_action(candidate: Candidate) -> types.CodeAction:
    """The code action that applies the candidate (through the command, which checks the document is unchanged)."""
    arguments = [{"uri": candidate.uri, "version": candidate.version}]
    command = types.Command(title=candidate.title, command=APPLY_COMMAND, arguments=arguments)
    return types.CodeAction(title=candidate.title, kind=KIND, command=command)
