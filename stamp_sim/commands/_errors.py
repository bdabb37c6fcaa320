"""Turn the toolkit's input errors into one-line CLI errors (exit 1), never tracebacks."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import click


def _user_errors() -> tuple[type[BaseException], ...]:
    # ValueError covers ConfigError, ProfileError, MissingPackageError and ReportError,
    # which all subclass it; OSError covers unreadable or unwritable paths.
    return (ValueError, OSError)


@contextlib.contextmanager
def one_line_errors() -> Iterator[None]:
    """Re-raise bad-input errors as click.ClickException with their first line."""
    try:
        yield
    except click.ClickException:
        raise
    except _user_errors() as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise click.ClickException(message) from None
