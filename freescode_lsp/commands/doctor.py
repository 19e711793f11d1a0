"""`freescode doctor`: check the installation, the models and the network, and say what to fix."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from freescode_lsp import doctor


def register(subparsers: Any) -> None:
    """Add `doctor` to the CLI."""
    parser = subparsers.add_parser("doctor", help="check Python, llama.cpp, the models, the model for each task, the nodes")
    parser.add_argument("--json", action="store_true", help="print the checks as JSON, for editors and scripts")
    parser.set_defaults(handler=run_doctor)


def run_doctor(args: argparse.Namespace) -> int:
    """Print every check; exit 1 when one failed."""
    checks = asyncio.run(doctor.diagnose(Path.cwd()))
    if args.json:
        print(json.dumps(doctor.as_json(checks), indent=1))
    else:
        print(doctor.render(checks))
    return 1 if any(check.status == "fail" for check in checks) else 0
