"""One fact `freescode doctor` reports: what was looked at, how it stands, what to do, and its section."""

from __future__ import annotations

from typing import Literal

from attrs import define

Status = Literal["ok", "warn", "fail"]
Section = Literal["install", "config", "models", "tasks", "network"]


@define(frozen=True)
class Check:
    """One fact about this installation: what was looked at, how it stands, and what to do if it is wrong.

    `section` groups the checks for editors: `:checkhealth freescode` shows each section under its own heading.
    """

    name: str
    status: Status
    detail: str
    todo: str = ""
    section: Section = "install"
