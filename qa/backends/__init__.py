"""Answer backends, registered by name: built-ins plus third-party ones from the
`qa.backends` entry-point group (`name = "package.module:factory"`, factory(settings) -> Backend)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from importlib.metadata import entry_points

from qa.backends.base import Backend, BackendError, GenerationRequest, Message, Passage
from qa.settings import Settings

BackendFactory = Callable[[Settings], Backend]

__all__ = [
    "Backend", "BackendError", "GenerationRequest", "Message", "Passage", "UnknownBackendError",
    "available_backends", "get_backend", "register_backend",
]


class UnknownBackendError(ValueError):
    """No backend is registered under that name."""


def _extractive(settings: Settings) -> Backend:
    from qa.backends.extractive import ExtractiveBackend

    return ExtractiveBackend(settings)


def _openai(settings: Settings) -> Backend:
    from qa.backends.openai import OpenAIBackend

    return OpenAIBackend(settings)


def _local(settings: Settings) -> Backend:
    from qa.backends.local import LocalBackend

    return LocalBackend(settings)


_factories: dict[str, BackendFactory] = {"extractive": _extractive, "openai": _openai, "local": _local}
_instances: dict[tuple[str, Settings], Backend] = {}
_lock = threading.Lock()
_entry_points_loaded = False


def register_backend(name: str, factory: BackendFactory) -> None:
    """Make a backend available under `name` (replacing any previous one)."""
    with _lock:
        _factories[name] = factory
        for key in [key for key in _instances if key[0] == name]:
            del _instances[key]


def available_backends() -> list[str]:
    _load_entry_points()
    return sorted(_factories)


def get_backend(name: str, settings: Settings) -> Backend:
    """The backend called `name`, created once per settings object and then reused."""
    _load_entry_points()
    if name not in _factories:
        raise UnknownBackendError(
            f"unknown model {name!r}: choose one of {', '.join(available_backends())}"
        )
    key = (name, settings)
    with _lock:
        if key not in _instances:
            _instances[key] = _factories[name](settings)
        return _instances[key]


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    for entry in entry_points(group="qa.backends"):
        _factories.setdefault(entry.name, entry.load())
    _entry_points_loaded = True
