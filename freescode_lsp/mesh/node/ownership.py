"""The gateway's answer to a registry's ownership challenge: proof that its operator's token configured it.

    GET /freescode/ownership?nonce=N&endpoint=E
        200 {"proof": P}   P made with the key of the operator token the gateway registers with
        400                a malformed challenge
        404                the gateway has no registry token (started without --registry): it cannot prove anything

No client key is needed and no engine is called: the answer costs one HMAC. See freescode_lsp.wire.ownership.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from freescode_lsp.mesh.node.proxy import error_response
from freescode_lsp.wire.ownership import OWNERSHIP_PATH, ownership_key, proof, valid_challenge


def ownership_route(token: str | None) -> Route:
    """The route that answers ownership challenges with the key of this operator token (None: refuse them)."""
    key = None if token is None else ownership_key(token)

    async def answer(request: Request) -> Response:
        return challenge_answer(request, key)

    return Route(OWNERSHIP_PATH, answer, methods=["GET"])


def challenge_answer(request: Request, key: bytes | None) -> Response:
    """The proof for the challenge in the request's query, made with `key`."""
    if key is None:
        return error_response(404, "this node has no registry token, so it cannot prove who runs it")
    nonce = request.query_params.get("nonce", "")
    endpoint = request.query_params.get("endpoint", "")
    if not valid_challenge(nonce, endpoint):
        return error_response(400, "an ownership challenge needs a hex 'nonce' and an http(s) 'endpoint'")
    return JSONResponse({"proof": proof(key, nonce, endpoint)}, headers={"Cache-Control": "no-store"})
