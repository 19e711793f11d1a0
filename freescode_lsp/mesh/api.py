"""The brief's Python API: get_model_response and model_registry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from freescode_lsp.config import Settings, load_settings
from freescode_lsp.engines.base import Chunk, GenerationRequest, Message
from freescode_lsp.routing.router import Router

T = TypeVar("T")
LANGUAGE_TASK_TYPES = {"python", "javascript", "typescript", "rust", "go", "java", "c", "cpp", "text"}


def _router(settings: Settings | None) -> Router:
    return Router.from_settings(settings or load_settings(Path.cwd()).settings)


def _request(model_name: str, prompt: str, task_type: str, max_tokens: int) -> GenerationRequest:
    system = (
        f"You are an expert {task_type} programmer." if task_type in LANGUAGE_TASK_TYPES else ("You are an expert programmer.")
    )
    return GenerationRequest(
        model=model_name,
        messages=[Message("system", system), Message("user", prompt)],
        prompt=prompt,
        max_tokens=max_tokens,
    )


async def stream_model_response(
    model_name: str,
    prompt: str,
    task_type: str = "python",
    max_tokens: int = 256,
    settings: Settings | None = None,
) -> AsyncIterator[Chunk]:
    """Stream a model's answer to a prompt, falling back along the model's chain when needed."""
    async with _router(settings) as router:
        async for chunk in router.stream(_request(model_name, prompt, task_type, max_tokens)):
            yield chunk


async def get_model_response(
    model_name: str,
    prompt: str,
    task_type: str = "python",
    max_tokens: int = 256,
    settings: Settings | None = None,
) -> str:
    """A model's whole answer to a prompt, with automatic fallback when the model is unavailable."""
    parts = []
    async for chunk in stream_model_response(model_name, prompt, task_type, max_tokens, settings):
        parts.append(chunk.text)
    return "".join(parts)


def _in_own_loop(work: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to the end on a fresh event loop in a worker thread, so callers need no loop of their own."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, work).result()


class ModelRegistry:
    """What models exist and where each can run right now."""

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings

    def get_model_info(self, name: str | None = None) -> Any:
        """All models as a dict keyed by id, or one model's info with its `available_hosts`."""
        infos = _in_own_loop(self._infos())
        if name is None:
            return infos
        if name not in infos:
            raise KeyError(f"unknown model {name!r}; known: {', '.join(sorted(infos))}")
        return infos[name]

    async def _infos(self) -> dict[str, dict[str, Any]]:
        """Every model's info, with the registry's hosts fetched first; the router is closed afterwards."""
        async with _router(self._settings) as router:
            for model_id in router.catalog:
                await router.refresh(model_id)
            return {model_id: self._info(router, model_id) for model_id in router.catalog}

    @staticmethod
    def _info(router: Router, model_id: str) -> dict[str, Any]:
        spec = router.catalog[model_id]
        hosts = [
            {"url": "local", "price_per_1k": 0.0, "context": spec.context}
            for candidate in router.candidates_for_model(model_id)
            if candidate.where == "local"
        ]
        hosts += [
            {
                "url": getattr(candidate.engine, "root_url", candidate.engine.name),
                "price_per_1k": candidate.price_per_1k,
                "context": getattr(candidate.engine, "context", None) or spec.context,
            }
            for candidate in router.candidates_for_model(model_id)
            if candidate.where == "remote"
        ]
        return {
            "id": spec.id,
            "context": spec.context,
            "price_per_1k": spec.price_per_1k,
            "specialties": list(spec.specialties),
            "quantization": spec.quantization,
            "prompt_style": spec.prompt_style,
            "hf": spec.hf_ref,
            "fallback": router.catalog.chain(model_id)[1:],
            "available_hosts": hosts,
        }


model_registry = ModelRegistry()
