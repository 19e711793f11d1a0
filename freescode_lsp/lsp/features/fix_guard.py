"""After a plain rewrite lands: the configured check on the code before and after it. A rewrite that made passing
tests fail is said so, and the code as it was is offered back as a code action while the document is unchanged."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from attrs import evolve
from pygls.uris import to_fs_path

from freescode_lsp.config import find_workspace
from freescode_lsp.errors import FreescodeError
from freescode_lsp.lsp.features.progress import Progress
from freescode_lsp.lsp.features.task_result import TaskResult
from freescode_lsp.lsp.features.verified_candidate import Candidate
from freescode_lsp.lsp.protocol.text_documents import find_document
from freescode_lsp.verify.guard import GuardVerdict, guard_check, guard_fix, limits_of, tests_passed
from freescode_lsp.verify.loop import FixTarget

if TYPE_CHECKING:
    from freescode_lsp.lsp.features.rewrite import RewriteSession
    from freescode_lsp.lsp.server import FreescodeServer


def _file_of(uri: str) -> tuple[Path, Path] | None:
    """The document's workspace and its path there, for a file on disk; None otherwise."""
    path = to_fs_path(uri)
    if path is None or not uri.startswith("file:"):
        return None
    file = Path(path).resolve()
    workspace = find_workspace(file.parent)
    try:
        return workspace, file.relative_to(workspace.resolve())
    except ValueError:
        return None


def undo_candidate(session: RewriteSession, version: int | None, title: str, verdict: GuardVerdict) -> Candidate:
    """The code as it was before the rewrite, for the lines the rewrite now holds, as an action that puts it back."""
    end = session.start + len(session.expected)
    text = "".join(line + "\n" for line in session.original)
    counts = f"{tests_passed(verdict.before.tests_passed())} before, {verdict.after.tests_passed()} after"
    words = counts if verdict.counted else "the check passed before it"
    return Candidate(
        session.uri,
        version,
        session.start,
        end,
        text,
        None,
        f"Undo the {title} ({words})",
        f"put back the code before the {title}",
    )


async def guard_rewrite(server: FreescodeServer, session: RewriteSession, title: str, done: TaskResult) -> TaskResult:
    """Check a landed rewrite with the configured check; when it made things worse, say so and offer the undo."""
    found = _file_of(session.uri)
    document = find_document(server.workspace, session.uri)
    if found is None or document is None or not done.applied:
        return done
    workspace, relative = found
    check = guard_check(server.loaded, workspace, relative, None)
    if check is None:
        return done
    if isinstance(check, str):
        server.log_info(f"Free-S_Code: the {title} is not checked: {check}")
        return done
    version, after = document.version, document.source
    landed = FixTarget(workspace, relative, after, session.start, session.start + len(session.expected))
    before = landed.with_region("".join(line + "\n" for line in session.original))
    work = asyncio.ensure_future(guard_fix(evolve(landed, text=before), check, limits_of(server.loaded), after))
    progress = Progress(server, f"Checking the {title} with `{check.shown}`", lambda: _stop(work))
    await progress.begin()
    try:
        verdict = await work
    except asyncio.CancelledError:
        progress.end("not checked: cancelled")
        return done
    except (OSError, FreescodeError) as exc:
        progress.end("not checked")
        server.log_info(f"Free-S_Code: the {title} is not checked: {exc}")
        return done
    progress.end(verdict.summary())
    if not verdict.worse:
        server.log_info(f"Free-S_Code: {title} checked: {verdict.summary()}")
        return evolve(done, message=f"{done.message}; {verdict.summary()}")
    undo = undo_candidate(session, version, title, verdict)
    now = find_document(server.workspace, session.uri)
    if now is not None and now.version == version:
        server.features.verified_fix.candidates[session.uri] = undo
        how = f'use the code action "{undo.title}"'
    else:
        how = "use your editor's undo (the file changed since the check ran)"
    message = f"{title} by {done.model}: {verdict.summary()}. To put the code back, {how}"
    server.tell_user(message)
    return evolve(done, message=message)


def _stop(work: asyncio.Future[GuardVerdict]) -> None:
    """Cancel the check: both runs, with their whole process groups."""
    work.cancel()
