#!/usr/bin/env bash
# Installs what the Emacs test needs, idempotently, from Debian: emacs-nox, and elpa-eglot where Emacs
# (28 and older) does not ship eglot. Prints `ready` and exits 0 once `emacs --batch` loads eglot; exits 3
# when it cannot install (not root, no apt-get, or apt-get failed), after saying why on stderr.
set -euo pipefail

say() { printf 'emacs setup: %s\n' "$*" >&2; }
has_emacs() { command -v emacs >/dev/null 2>&1; }
has_eglot() { has_emacs && emacs --batch --eval "(require 'eglot)" >/dev/null 2>&1; }

install() {
  if [ "$(id -u)" != 0 ]; then
    say "cannot install $*: not root (install them with apt-get, then run again)"
    exit 3
  fi
  command -v apt-get >/dev/null 2>&1 || { say "cannot install $*: no apt-get"; exit 3; }
  say "apt-get install $*"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || { say "apt-get update failed"; exit 3; }
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null || { say "apt-get install $* failed"; exit 3; }
}

if ! has_eglot; then
  has_emacs || install emacs-nox
  has_eglot || install elpa-eglot
fi
has_eglot || { say "Emacs is installed but cannot load eglot"; exit 3; }
echo ready
