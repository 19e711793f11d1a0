"""The Emacs snippet of the README in a real `emacs --batch` with eglot, the real freescode-lsp and a stub node.

editors/emacs/setup.sh installs Debian's emacs-nox (and elpa-eglot for Emacs 28) when they are missing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from freescode_lsp.testing.answers import fenced, pieces
from freescode_lsp.testing.real_editors import REPO, SERVER, write_source
from freescode_lsp.testing.samples import FIXED, FIXED_SOURCE

SETUP = REPO / "editors" / "emacs" / "setup.sh"

EGLOT_SMOKE = """
(require 'eglot)
(setq eglot-confirm-server-initiated-edits nil)
(add-to-list 'eglot-server-programs
             `(python-mode . (,@SERVER@ :initializationOptions
                              (:nodes [(:url ,@URL@ :models ["code-llama-7b"])]
                               :network (:mode "remote-only")
                               :server (:diagnostics_idle_s 0)))))
(find-file @FILE@)
(python-mode)
(apply #'eglot (eglot--guess-contact))
;; batch Emacs is never idle, so eglot's idle timer would not report changes: report them on a timer
(run-with-timer 0.05 0.05 (lambda () (with-current-buffer (get-file-buffer @FILE@)
                                       (eglot--signal-textDocument/didChange))))
(let ((result (eglot-execute-command
               (eglot-current-server) "freescode.runTask"
               (vector `(:uri ,(eglot--path-to-uri buffer-file-name) :task "fix" :line 5 :endLine 5)))))
  (with-temp-file @OUT@
    (insert (json-encode `((applied . ,(eq (plist-get result :applied) t))
                           (message . ,(plist-get result :message))
                           (text . ,(with-current-buffer (get-file-buffer @FILE@) (buffer-string))))))))
(kill-emacs 0)
"""


@pytest.fixture(scope="module")
def emacs() -> str:
    """Emacs with eglot, installed by editors/emacs/setup.sh when missing; the test is skipped where it cannot be."""
    process = subprocess.run(["bash", str(SETUP)], check=False, capture_output=True, text=True, timeout=900)
    if process.returncode == 3:
        pytest.skip(f"Emacs with eglot cannot be set up here: {process.stderr.strip()}")
    assert process.returncode == 0, process.stderr[-2000:]
    found = shutil.which("emacs")
    assert found is not None
    return found


def test_emacs_eglot_snippet_fixes_the_buffer(emacs: str, stub_node, tmp_path: Path) -> None:
    """Emacs' eglot (headless) runs freescode.runTask and applies the streamed fix."""
    stub_node.set_script({"default": {"chunks": pieces(fenced(FIXED)), "delay_s": 0.01}})
    path = write_source(tmp_path)
    out = tmp_path / "eglot.json"
    script = tmp_path / "smoke.el"
    elisp = EGLOT_SMOKE
    for name, value in {"SERVER": SERVER[0], "URL": stub_node.url, "FILE": str(path), "OUT": str(out)}.items():
        elisp = elisp.replace(f"@{name}@", json.dumps(value, ensure_ascii=False))
    script.write_text(elisp)
    process = subprocess.run(
        [emacs, "--batch", "-l", str(script)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    assert out.exists(), process.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result == {"applied": True, "message": "Fix done by code-llama-7b", "text": FIXED_SOURCE}
