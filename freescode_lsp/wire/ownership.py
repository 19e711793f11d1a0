"""The ownership challenge both ends share: a registry asks a node to prove that the registering operator runs it.

The registry sends `GET {node}/freescode/ownership?nonce=N&endpoint=E` (N fresh random hex, E the node's
canonical URL); the gateway answers `{"proof": P}` with P = HMAC-SHA256(K, "N\nE") in hex, where K is derived
from the operator's registry token. Only a gateway configured with that operator's token can answer.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

OWNERSHIP_PATH = "/freescode/ownership"
KEY_CONTEXT = b"freescode node ownership v1\0"
NONCE = re.compile(r"[0-9a-f]{32,128}")
ENDPOINT = re.compile(r"https?://[\x21-\x7e]{1,2040}")
PROOF = re.compile(r"[0-9a-f]{64}")


def ownership_key(token: str) -> bytes:
    """The key an operator's token proves ownership with; never the token itself, nor its lookup digest."""
    return hashlib.sha256(KEY_CONTEXT + token.encode()).digest()


def new_nonce() -> str:
    """A fresh challenge: 32 random bytes in hex."""
    return secrets.token_hex(32)


def valid_challenge(nonce: str, endpoint: str) -> bool:
    """Whether a challenge is well formed: a hex nonce and a printable http(s) URL."""
    return bool(NONCE.fullmatch(nonce) and ENDPOINT.fullmatch(endpoint))


def proof(key: bytes, nonce: str, endpoint: str) -> str:
    """The answer to one challenge for one endpoint, made with one operator's key."""
    return hmac.new(key, f"{nonce}\n{endpoint}".encode(), hashlib.sha256).hexdigest()


def proves(keys: list[bytes], nonce: str, endpoint: str, answer: str) -> bool:
    """Whether an answer was made with one of these keys for this challenge; every key compared in constant time."""
    if not PROOF.fullmatch(answer):
        return False
    found = False
    for key in keys:
        found |= hmac.compare_digest(proof(key, nonce, endpoint), answer)
    return found
