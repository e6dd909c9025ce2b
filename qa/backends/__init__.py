"""Answer backends, registered by name: built-ins plus third-party ones from the
`qa.backends` entry-point group (`name = "package.module:factory"`, factory(settings) -> Backend).

The registry holds factories only; `Backends` builds each backend a service uses once and owns it
(the composition root, `qa.components`, makes one per service)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, cast

from qa.backends.base import (
    REFUSAL,
    Backend,
    BackendError,
    GenerationRequest,
    Message,
    Passage,
    Refusal,
)
from qa.settings import Settings

if TYPE_CHECKING:
    from qa.answer_model import AnswerModel
    from qa.backends.local import LocalBackend
    from qa.embed import Embedder

BackendFactory = Callable[[Settings], Backend]

__all__ = [
    "REFUSAL", "Backend", "BackendError", "Backends", "GenerationRequest", "Message", "Passage", "Refusal",
    "UnknownBackendError", "available_backends", "register_backend", "unregister_backend",
]

BUILT_IN = ("extractive", "local", "openai")


class UnknownBackendError(ValueError):
    """No backend is registered under that name."""


_registered: dict[str, BackendFactory] = {}  # plugins: name -> factory (no instances)
_registry_lock = threading.Lock()


def register_backend(name: str, factory: BackendFactory) -> None:
    """Make a backend available under `name` to `Backends` built from now on."""
    if name in BUILT_IN:
        raise ValueError(f"{name!r} is a built-in backend")
    with _registry_lock:
        _registered[name] = factory


def unregister_backend(name: str) -> None:
    """Undo `register_backend(name, ...)`."""
    with _registry_lock:
        _registered.pop(name, None)


def _plugin_factories() -> dict[str, BackendFactory]:
    factories = {entry.name: entry.load() for entry in entry_points(group="qa.backends")
                 if entry.name not in BUILT_IN}
    with _registry_lock:
        return factories | _registered


def available_backends() -> list[str]:
    """Every backend name: the built-ins and the registered ones."""
    return sorted({*BUILT_IN, *_plugin_factories()})


class Backends:
    """The backends of one service, each built on first use and reused, closed with `close()`."""

    def __init__(self, settings: Settings, embedder: Embedder,
                 answer_model: Callable[[], AnswerModel] | None = None) -> None:
        self.settings = settings
        self.embedder = embedder
        self._answer_model = answer_model
        self._factories = _plugin_factories()
        self._built: dict[str, Backend] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return sorted({*BUILT_IN, *self._factories})

    def check(self, name: str) -> None:
        """Raise `UnknownBackendError` unless `name` is a backend."""
        if name not in BUILT_IN and name not in self._factories:
            raise UnknownBackendError(f"unknown model {name!r}: choose one of {', '.join(self.names())}")

    def get(self, name: str) -> Backend:
        """The backend called `name`, built once."""
        self.check(name)
        with self._lock:
            backend = self._built.get(name)
            if backend is None:
                backend = self._built[name] = self._build(name)
            return backend

    def local(self) -> LocalBackend:
        """The local LLM backend (also the judge of `QA_SUPPORT_SCORER=judge`)."""
        return cast("LocalBackend", self.get("local"))

    def _build(self, name: str) -> Backend:
        if name == "extractive":
            from qa.backends.extractive import ExtractiveBackend

            model = self._answer_model() if self.settings.answer_model_weight > 0 and self._answer_model else None
            return ExtractiveBackend(self.settings, self.embedder, model)
        if name == "openai":
            from qa.backends.openai import OpenAIBackend

            return OpenAIBackend(self.settings)
        if name == "local":
            from qa.backends.local import LocalBackend

            return LocalBackend(self.settings)
        return self._factories[name](self.settings)

    def close(self) -> None:
        """Close every backend built (HTTP clients, worker processes)."""
        with self._lock:
            built, self._built = list(self._built.values()), {}
        for backend in built:
            close = getattr(backend, "close", None)
            if close is not None:
                close()
