"""The one task table: each task's id, title, code action kind, what it produces, prompt and default model.

Settings, the catalog, the language server, the command line and `freescode tasks --json` read this table;
the editors check their own copies against that JSON. It is plain data that imports nothing of the package,
so that every layer may read it: models are named by id, and the prompt by the name of its builder in
`freescode_lsp.tasks.prompts.BUILDERS`. What differs between tasks when they run (the instruction, the
completion-form headings, a second stage, where the editor shows the answer) is a field here, so that the
runner, the language server and the command line dispatch on the spec and never on a task id.
"""

from __future__ import annotations

import string
from typing import Any, Literal

from attrs import define

from freescode_lsp.errors import FreescodeError

Produces = Literal["rewrite", "text", "findings", "completion"]
Surface = Literal["code_action", "hover", "diagnostics", "inline_completion", "internal"]
RUN_TASK_COMMAND = "freescode.runTask"


class UnknownTask(FreescodeError, KeyError):
    """No task has this id."""


@define(frozen=True)
class EditorCommands:
    """The names the editors give the command that runs a task."""

    vscode: str
    vscode_title: str
    neovim: str


@define(frozen=True)
class TaskSpec:
    """One task: what the user calls it, what it produces, how it asks a model, and which model by default."""

    id: str
    title: str
    produces: Produces
    default_model: str
    prompt: str
    code_action_kind: str | None = None
    runnable: bool = True
    editor_commands: EditorCommands | None = None
    instruction: str = ""
    headings: tuple[str, str] | None = None
    second_stage: str | None = None
    answers_diagnostics: bool = False
    verifiable: bool = False
    surface: Surface = "code_action"
    near_line: str = ""
    retry_note: str = ""
    must_change_code: bool = False

    @property
    def rewrites_code(self) -> bool:
        """Whether running the task replaces the user's code (an internal stage does not count)."""
        return self.runnable and self.produces == "rewrite"

    def action_title(self, model: str) -> str:
        """The title an editor shows, naming the model that would answer now."""
        return f"{self.title} with {model}"

    def to_json(self) -> dict[str, Any]:
        """The task as `freescode tasks --json` lists it."""
        commands = self.editor_commands
        return {
            "id": self.id,
            "title": self.title,
            "kind": self.code_action_kind,
            "produces": self.produces,
            "default_model": self.default_model,
            "runnable": self.runnable,
            "commands": None
            if commands is None
            else {
                "vscode": {"command": commands.vscode, "title": commands.vscode_title},
                "neovim": commands.neovim,
            },
        }


def _commands(vscode: str, title: str, neovim: str) -> EditorCommands:
    return EditorCommands(vscode, string.capwords(title), neovim)


TASKS: tuple[TaskSpec, ...] = (
    TaskSpec(
        id="fix",
        title="Fix",
        produces="rewrite",
        default_model="code-llama-7b",
        prompt="rewrite",
        code_action_kind="quickfix.freescode.fix",
        editor_commands=_commands("freescode.fix", "Fix", "FreescodeFix"),
        instruction="Fix the bug in this {language} code. Reply with the complete corrected code, nothing else.",
        headings=("The following {language} code has a bug", "The same code with the bug fixed"),
        second_stage="fix_helper",
        answers_diagnostics=True,
        verifiable=True,
        near_line="The bug is probably on or near this line: `{line}`",
        retry_note=(
            "A first answer gave this code back unchanged, but the bug is still there: find it and change the code to fix it."
        ),
        must_change_code=True,
    ),
    TaskSpec(
        id="debug",
        title="Find bugs",
        produces="findings",
        default_model="starcoder2-15b",
        prompt="findings",
        code_action_kind="source.freescode.debug",
        editor_commands=_commands("freescode.findBugs", "Find bugs", "FreescodeDebug"),
        instruction=(
            "Find the bugs in this {language} code. The lines are numbered. Report each bug with its first "
            "and last line number, a severity (error, warning, information, hint) and a one-sentence message. "
            "Report nothing if there is no bug."
        ),
        surface="diagnostics",
    ),
    TaskSpec(
        id="clean",
        title="Clean up",
        produces="rewrite",
        default_model="mistral-7b",
        prompt="rewrite",
        code_action_kind="refactor.rewrite.freescode.clean",
        editor_commands=_commands("freescode.cleanUp", "Clean up", "FreescodeClean"),
        instruction=(
            "Clean up this {language} code: remove dead code, simplify, keep exactly the same behaviour. "
            "Reply with the complete cleaned code, nothing else."
        ),
        headings=("The following {language} code is messy", "The same code, cleaned up, same behaviour"),
    ),
    TaskSpec(
        id="refactor",
        title="Refactor",
        produces="rewrite",
        default_model="wizardcoder-python-34b",
        prompt="rewrite",
        code_action_kind="refactor.rewrite.freescode.refactor",
        editor_commands=_commands("freescode.refactor", "Refactor", "FreescodeRefactor"),
        instruction=(
            "Refactor this {language} code for readability and structure, keeping its behaviour and its "
            "public names. Reply with the complete refactored code, nothing else."
        ),
        headings=("The following {language} code", "The same code, refactored"),
    ),
    TaskSpec(
        id="analyze",
        title="Explain",
        produces="text",
        default_model="deepseek-coder-6.7b",
        prompt="explain",
        editor_commands=_commands("freescode.explain", "Explain", "FreescodeExplain"),
        instruction="Explain what this {language} code does, briefly, in Markdown: purpose, inputs, outputs, pitfalls.",
        surface="hover",
    ),
    TaskSpec(
        id="fix_helper",
        title="Fix (merge)",
        produces="rewrite",
        default_model="wizardcoder-13b",
        prompt="merge",
        runnable=False,
        instruction=(
            "Here is {language} code and a proposed change to it (a patch or a fragment). Apply the change "
            "and reply with the complete resulting code, nothing else."
        ),
        surface="internal",
    ),
    TaskSpec(
        id="complete",
        title="Complete",
        produces="completion",
        default_model="deepseek-coder-1.3b",
        prompt="infill",
        runnable=False,
        surface="inline_completion",
    ),
)

_BY_ID = {spec.id: spec for spec in TASKS}
TASK_IDS: tuple[str, ...] = tuple(_BY_ID)
RUNNABLE_TASKS: tuple[str, ...] = tuple(spec.id for spec in TASKS if spec.runnable)
CODE_ACTION_TASKS: tuple[TaskSpec, ...] = tuple(spec for spec in TASKS if spec.code_action_kind is not None)


def task_spec(task_id: str) -> TaskSpec:
    """The task with this id, or UnknownTask."""
    try:
        return _BY_ID[task_id]
    except KeyError:
        raise UnknownTask(task_id) from None


def task_shown_in(surface: Surface) -> TaskSpec:
    """The task whose answers the editor shows in this place (hover, diagnostics, inline completion)."""
    return next(spec for spec in TASKS if spec.surface == surface)


def verified_task() -> TaskSpec:
    """The task whose candidates "Fix and verify" checks against the user's own check."""
    return next(spec for spec in TASKS if spec.verifiable)


def default_routing() -> dict[str, str]:
    """Each task's default model: the routing table before `[routing]` settings apply."""
    return {spec.id: spec.default_model for spec in TASKS}


def table_json() -> dict[str, Any]:
    """The whole table as `freescode tasks --json` prints it."""
    return {"command": RUN_TASK_COMMAND, "tasks": [spec.to_json() for spec in TASKS]}
