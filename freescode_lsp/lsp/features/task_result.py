"""What a freescode.runTask command answers, typed; `to_json` is the one place that makes the editor's dict."""

from __future__ import annotations

from typing import Any, Literal

from attrs import define

ResultKind = Literal["refused", "rewrite", "findings", "text"]


@define(frozen=True)
class TaskResult:
    """How a task ended: refused before it ran, or a rewrite, findings or text and who produced them."""

    kind: ResultKind
    message: str | None
    applied: bool = False
    model: str | None = None
    edits: int = 0
    findings: int = 0
    markdown: str | None = None

    @classmethod
    def refused(cls, message: str) -> TaskResult:
        """The task did not run; the message says why, for the user."""
        return cls("refused", message)

    def to_json(self) -> dict[str, Any]:
        """The command's answer as editors read it: each kind carries its own keys."""
        answer: dict[str, Any] = {"applied": self.applied, "message": self.message}
        if self.kind == "rewrite":
            answer["edits"] = self.edits
            if self.applied:
                answer["model"] = self.model
        elif self.kind == "findings":
            answer.update(findings=self.findings, model=self.model)
        elif self.kind == "text":
            answer.update(markdown=self.markdown, model=self.model)
        return answer
