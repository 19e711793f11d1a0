"""Code from other open files for the prompt: the definitions the code near the cursor uses, as comment lines that
hold still while the user types."""

from __future__ import annotations

from freescode_lsp.completion.neighbours import block, definitions

HOSTS = '''"""Hosts."""

import random


def order_near_best(found: list[str],
                    scores: list[float]) -> list[str]:
    """Candidates near the best score, in random order.

    More words.
    """
    return found


class Book:
    """What each host did lately."""

    def get(self, name: str) -> str:
        return name


def _private(x):
    return x
'''


def test_top_level_functions_and_classes_give_their_signature_and_first_docstring_line() -> None:
    found = {d.name: d for d in definitions(HOSTS, "hosts.py")}
    assert sorted(found) == ["Book", "_private", "order_near_best"]
    assert found["order_near_best"].text == (
        "def order_near_best(found: list[str],\n                    scores: list[float]) -> list[str]:\n"
        '    """Candidates near the best score, in random order."""'
    )
    assert found["Book"].text == 'class Book:\n    """What each host did lately."""'
    assert found["_private"].text == "def _private(x):"
    assert definitions("def broken(:\n", "x.py") == []


def test_the_block_holds_what_the_code_uses_in_the_order_of_first_use() -> None:
    known = {d.name: d for d in definitions(HOSTS, "hosts.py")}
    code = "def choose(book):\n    ranked = order_near_best(hosts, scores)\n    return Book()\n"
    text = block(known, code)
    assert text.startswith("# hosts.py:\n# def order_near_best(found: list[str],\n")
    assert text.index("order_near_best") < text.index("class Book") and "_private" not in text
    assert all(line.startswith("#") for line in text.splitlines())
    assert block(known, code + "    x = Bo") == text
    assert (
        block(known, "def order_near_best(a):\n    return Book\n")
        == "# hosts.py:\n" + "\n".join(f"# {line}" for line in known["Book"].text.split("\n")) + "\n"
    )
    assert block(known, "print(1)\n") == ""
    assert len(block(known, code, limit=120)) <= 120
