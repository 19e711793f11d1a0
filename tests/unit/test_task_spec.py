"""The task table: one definition read by settings, requests, the command line and `freescode tasks --json`."""

from __future__ import annotations

import json

import pytest

from freescode_lsp.cli import main
from freescode_lsp.config import settings_from_dict
from freescode_lsp.models.catalog import build_catalog
from freescode_lsp.task_table import TASK_IDS, TASKS, UnknownTask, default_routing, table_json, task_spec
from freescode_lsp.tasks.inputs import InDocstring, LinePastEnd, task_input, task_region
from freescode_lsp.tasks.prompts import BUILDERS, TaskInput, build_request
from freescode_lsp.tasks.requests import BadTaskArgs, TaskArgs

CODE = 'def area(r):\n    """Area."""\n    return 3.14 * r\n'


def test_ids_are_unique_and_each_default_model_is_in_the_catalog() -> None:
    assert len(set(TASK_IDS)) == len(TASKS)
    catalog = build_catalog()
    for spec in TASKS:
        assert spec.default_model in catalog, spec.id


def test_code_action_kinds_are_distinct_and_only_on_runnable_tasks() -> None:
    kinds = [spec.code_action_kind for spec in TASKS if spec.code_action_kind is not None]
    assert len(kinds) == len(set(kinds))
    assert all(spec.runnable for spec in TASKS if spec.code_action_kind is not None)


def test_each_task_names_a_prompt_builder_and_each_builder_serves_a_task() -> None:
    assert {spec.prompt for spec in TASKS} == set(BUILDERS)


def test_unknown_task_is_its_own_error() -> None:
    with pytest.raises(UnknownTask):
        task_spec("translate")


def test_settings_route_each_task_to_its_default_unless_configured() -> None:
    settings = settings_from_dict({"routing": {"clean": "code-llama-7b"}}).settings
    catalog = build_catalog(settings)
    for spec in TASKS:
        expected = "code-llama-7b" if spec.id == "clean" else spec.default_model
        assert catalog.model_for(spec.id) == expected
    assert build_catalog().routing == default_routing()


def test_routing_an_unknown_task_lists_the_table() -> None:
    loaded = settings_from_dict({"routing": {"translate": "mistral-7b"}})
    assert loaded.settings.routing == {}
    assert any(f"expected one of {', '.join(TASK_IDS)}" in problem for problem in loaded.problems), loaded.problems


@pytest.mark.parametrize("spec", TASKS, ids=lambda spec: spec.id)
def test_each_task_builds_the_request_its_answer_needs(spec) -> None:
    request = build_request("m", TaskInput(spec.id, CODE, "python", extra="return 3.14 * r * r"), 4096)
    if spec.produces == "completion":
        assert request.infill is not None and (request.infill.prefix, request.infill.suffix) == (CODE, "return 3.14 * r * r")
        assert not request.messages and request.prompt == CODE
        return
    assert request.model == "m" and request.messages and request.prompt
    assert (request.json_schema is not None) == (spec.produces == "findings")
    if spec.produces == "rewrite":
        assert request.prompt_stop == ["```"] and request.max_tokens < 4096
    else:
        assert request.max_tokens == 600


def test_only_runnable_tasks_are_accepted_as_command_arguments() -> None:
    for spec in TASKS:
        raw = {"uri": "file:///a.py", "task": spec.id, "line": 0}
        if spec.runnable:
            assert TaskArgs.from_json(raw).task == spec.id
        else:
            with pytest.raises(BadTaskArgs):
                TaskArgs.from_json(raw)


def test_freescode_tasks_json_is_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tasks", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == table_json()
    assert [task["id"] for task in printed["tasks"]] == list(TASK_IDS)
    for task, spec in zip(printed["tasks"], TASKS, strict=True):
        assert (task["title"], task["kind"], task["produces"], task["default_model"], task["runnable"]) == (
            spec.title,
            spec.code_action_kind,
            spec.produces,
            spec.default_model,
            spec.runnable,
        )
        assert (task["commands"] is None) == (spec.editor_commands is None)


def test_freescode_tasks_prints_a_row_per_task(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tasks"]) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert [row.split()[0] for row in rows] == list(TASK_IDS)
    for row, spec in zip(rows, TASKS, strict=True):
        assert spec.default_model in row.split()


def test_run_takes_exactly_the_runnable_tasks(capsys: pytest.CaptureFixture[str]) -> None:
    for spec in TASKS:
        if not spec.runnable:
            with pytest.raises(SystemExit) as stopped:
                main(["run", spec.id, "x.py", "--line", "1"])
            assert stopped.value.code == 2
            assert "invalid choice" in capsys.readouterr().err


def test_a_cursor_gives_its_unit_and_a_selection_its_lines() -> None:
    region = task_region(CODE, "python", "fix", 2)
    assert (region.start, region.end, region.unit and region.unit.name) == (0, 3, "area")
    assert task_region(CODE, "python", "fix", 0, (1, 9)).start == 1
    assert task_region(CODE, "python", "fix", 0, (1, 9)).end == 3


def test_a_rewrite_refuses_a_docstring_but_an_explanation_takes_it() -> None:
    text = '"""Module docs."""\n\nx = 1\n'
    with pytest.raises(InDocstring) as refused:
        task_region(text, "python", "fix", 0)
    assert refused.value.unit.kind == "docstring"
    assert task_region(text, "python", "analyze", 0).unit.kind == "docstring"


def test_a_line_past_the_end_says_how_long_the_text_is() -> None:
    with pytest.raises(LinePastEnd) as past:
        task_region(CODE, "python", "fix", 7)
    assert past.value.total == 3


def test_the_input_has_plain_line_endings_and_the_whole_file_around() -> None:
    text = CODE.replace("\n", "\r\n") + "y = 2"
    region = task_region(text, "python", "fix", 1)
    item = task_input(text, "python", "fix", region)
    assert item.code == CODE
    assert item.surrounding is not None
    assert item.surrounding.lines == (*CODE.splitlines(), "y = 2")
    assert (item.surrounding.target_start, item.surrounding.target_end) == (0, 3)


def test_no_task_id_is_written_as_a_literal_outside_the_table() -> None:
    import ast
    from pathlib import Path

    import freescode_lsp

    root = Path(freescode_lsp.__file__).parent
    found = []
    for path in root.rglob("*.py"):
        if path.name == "task_table.py" or "testing" in path.relative_to(root).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in TASK_IDS:
                found.append(f"{path.relative_to(root)}:{node.lineno} {node.value!r}")
    assert not found, "task ids outside the task table: " + ", ".join(found)


def test_each_place_in_the_editor_is_served_by_one_task() -> None:
    from freescode_lsp.task_table import task_shown_in

    for surface in ("hover", "diagnostics", "inline_completion"):
        assert [spec.id for spec in TASKS if spec.surface == surface] == [task_shown_in(surface).id]
    for spec in TASKS:
        if spec.second_stage is not None:
            assert task_spec(spec.second_stage).surface == "internal" and spec.produces == "rewrite"
        assert spec.instruction or spec.produces == "completion", spec.id


@pytest.mark.parametrize("task", [spec.id for spec in TASKS if spec.rewrites_code], ids=str)
async def test_a_fragment_goes_to_a_second_stage_only_where_the_table_names_one(stub_node, task: str) -> None:
    from freescode_lsp.routing.router import Router
    from freescode_lsp.tasks.runner import Stage, run_task

    whole = "def area(r):\n    return 3.14 * r * r\n"
    fragment = {"chunks": ["```python\n    return 3.14 * r * r\n```\n"]}
    merged = {"chunks": [f"```python\n{whole}```\n"]}
    spec = task_spec(task)
    second = spec.second_stage
    served = sorted({spec.default_model, *([task_spec(second).default_model] if second else [])})
    stub_node.reset(
        {
            "models": served,
            "by_model": {spec.default_model: fragment, **({task_spec(second).default_model: merged} if second else {})},
        }
    )
    nodes = [{"url": stub_node.url, "models": served}]
    router = Router.from_settings(settings_from_dict({"nodes": nodes, "network": {"mode": "remote-only"}}).settings)
    try:
        outcome = await run_task(router, TaskInput(task, CODE, "python"))
    finally:
        await router.aclose()
    if second is None:
        assert outcome.stages == [Stage(task, spec.default_model)]
    else:
        assert outcome.stages == [Stage(task, spec.default_model), Stage(second, task_spec(second).default_model)]
        assert outcome.text == whole
