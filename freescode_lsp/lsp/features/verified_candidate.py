"""The best candidate of a verified fix that did not pass: kept per document and offered as its own code action."""

from __future__ import annotations

from attrs import frozen
from lsprotocol import types

from freescode_lsp.verify.loop import FixTarget, VerifyResult

APPLY_COMMAND = "freescode.applyCandidate"
KIND = "quickfix.freescode.fixVerified.unverified"


@frozen
class Candidate:
    """A checked candidate for lines [start, end) of a document at one version, with how many tests it passed."""

    uri: str
    version: int | None
    start: int
    end: int
    text: str
    passed: int
    counted: int
    model: str | None

    @property
    def title(self) -> str:
        """The code action's title, saying how far the candidate got."""
        return f"Apply best unverified candidate ({self.passed} of {self.counted} tests passed)"

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
    return Candidate(uri, version, target.start, target.end, best.candidate, passed, counted, best.outcome.model)


def candidate_action(candidate: Candidate) -> types.CodeAction:
    """The code action that applies the candidate (through the command, which checks the document is unchanged)."""
    arguments = [{"uri": candidate.uri, "version": candidate.version}]
    command = types.Command(title=candidate.title, command=APPLY_COMMAND, arguments=arguments)
    return types.CodeAction(title=candidate.title, kind=KIND, command=command)
