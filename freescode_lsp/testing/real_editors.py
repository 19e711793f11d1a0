"""What the tests in a real editor share: the repository they run from, the installed server, a project to open."""

from __future__ import annotations

import sys
from pathlib import Path

from freescode_lsp.testing.samples import SOURCE

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SERVER = [str(BIN / "freescode-lsp")]
CLI = [str(BIN / "freescode")]


def write_source(tmp_path: Path, text: str = SOURCE, name: str = "shapes.py") -> Path:
    """The file under test, in its own project (freescode.toml marks the root)."""
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    (project / "freescode.toml").write_text("")
    path = project / name
    path.write_text(text)
    return path
