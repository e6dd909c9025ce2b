"""Data the package ships beside its code: the prompt templates and the bundled seed articles.

People edit them at the top of the checkout (`prompts/`, `seeds/`); the build maps those folders
into the package as `qa._prompts` and `qa._seeds` (pyproject.toml), so a wheel carries them.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import Literal

# The checkout's top level, for code run straight from a source tree (PYTHONPATH, no install).
SOURCE_ROOT = Path(__file__).resolve().parent.parent

BundledFolder = Literal["prompts", "seeds"]


def bundled_dir(name: BundledFolder) -> Path:
    """The folder of bundled `prompts` or `seeds`: inside the installed package (a wheel, or the
    checkout's own folder for an editable install), else the source tree's top-level folder."""
    try:
        folder = importlib.resources.files(f"qa._{name}")
    except ModuleNotFoundError:  # not installed: running from a source tree
        return SOURCE_ROOT / name
    if isinstance(folder, Path):
        return folder
    # A folder without __init__.py is a namespace package: its files() is a MultiplexedPath over
    # the one folder it maps to, whose children are plain paths.
    child = next(iter(folder.iterdir()), None)
    return Path(str(child)).parent if child is not None else SOURCE_ROOT / name
