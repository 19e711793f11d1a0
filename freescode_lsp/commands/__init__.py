"""Subcommands of the `freescode` CLI; each module exposes `register(subparsers)`."""
