"""The one task table: each task's id, title, code action kind, what it produces, prompt and default model.

Settings, the catalog, the language server, the command line and `freescode tasks --json` read this table;
the editors check their own copies against that JSON. It is plain data that imports nothing of the package,
so that every layer may read it: models are named by id, and the prompt by the name of its builder in
`freescode_lsp.tasks.prompts.BUILDERS`.
"""

from __future__ import annotations

import string
from typing import Any, Literal

from attrs import define

from freescode_lsp.errors import FreescodeError

Produces = Literal["rewrite", "text", "findings", "completion"]
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
    ),
    TaskSpec(
        id="debug",
        title="Find bugs",
        produces="findings",
        default_model="starcoder2-15b",
        prompt="findings",
        code_action_kind="source.freescode.debug",
        editor_commands=_commands("freescode.findBugs", "Find bugs", "FreescodeDebug"),
    ),
    TaskSpec(
        id="clean",
        title="Clean up",
        produces="rewrite",
        default_model="mistral-7b",
        prompt="rewrite",
        code_action_kind="refactor.rewrite.freescode.clean",
        editor_commands=_commands("freescode.cleanUp", "Clean up", "FreescodeClean"),
    ),
    TaskSpec(
        id="refactor",
        title="Refactor",
        produces="rewrite",
        default_model="wizardcoder-python-34b",
        prompt="rewrite",
        code_action_kind="refactor.rewrite.freescode.refactor",
        editor_commands=_commands("freescode.refactor", "Refactor", "FreescodeRefactor"),
    ),
    TaskSpec(
        id="analyze",
        title="Explain",
        produces="text",
        default_model="deepseek-coder-6.7b",
        prompt="explain",
        editor_commands=_commands("freescode.explain", "Explain", "FreescodeExplain"),
    ),
    TaskSpec(
        id="fix_helper",
        title="Fix (merge)",
        produces="rewrite",
        default_model="wizardcoder-13b",
        prompt="merge",
        runnable=False,
    ),
    TaskSpec(
        id="complete",
        title="Complete",
        produces="completion",
        default_model="deepseek-coder-1.3b",
        prompt="infill",
        runnable=False,
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


def default_routing() -> dict[str, str]:
    """Each task's default model: the routing table before `[routing]` settings apply."""
    return {spec.id: spec.default_model for spec in TASKS}


def table_json() -> dict[str, Any]:
    """The whole table as `freescode tasks --json` prints it."""
    return {"command": RUN_TASK_COMMAND, "tasks": [spec.to_json() for spec in TASKS]}
