"""Language ids from file names, as editors name them."""

from __future__ import annotations

from pathlib import PurePath

EXTENSIONS = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascriptreact",
    ".ts": "typescript",
    ".tsx": "typescriptreact",
    ".rs": "rust",
    ".go": "go",
    ".java": "java",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".hpp": "cpp",
    ".rb": "ruby",
    ".lua": "lua",
    ".sh": "shellscript",
    ".php": "php",
    ".cs": "csharp",
    ".kt": "kotlin",
    ".swift": "swift",
}


def language_of(path: str) -> str:
    """The editor's language id for a file name, or "text"."""
    return EXTENSIONS.get(PurePath(path).suffix.lower(), "text")
