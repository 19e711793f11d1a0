"""The repair benchmark: buggy programs written for this project, each fixed by `freescode run fix --apply` and by
the same model through raw llama-cpp-python; see run.py for the command and programs/ for the programs."""
