"""Turn the toolkit's errors into CLI errors (exit 1), never tracebacks.

A bad-input error (ValueError and its subclasses ConfigError, ProfileError,
ReportError; OSError) is printed whole: a profile or config with three problems prints
three lines. Any other exception is a bug of stamp-sim: one line says so and names the
file the full traceback was saved to.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import tempfile
import traceback
from collections.abc import Iterator
from pathlib import Path

import click

__all__ = ["one_line_errors", "save_traceback"]


def _user_errors() -> tuple[type[BaseException], ...]:
    # ValueError covers ConfigError, ProfileError, MissingPackageError and ReportError,
    # which all subclass it; OSError covers unreadable or unwritable paths.
    return (ValueError, OSError)


def save_traceback(exc: BaseException) -> Path:
    """Write `exc`'s full traceback to a new file in the temp folder; returns its path."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    fd, name = tempfile.mkstemp(prefix=f"stamp-sim-traceback-{stamp}-", suffix=".txt")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    return Path(name)


def _message(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror}"
    return text or type(exc).__name__


@contextlib.contextmanager
def one_line_errors() -> Iterator[None]:
    """Re-raise bad-input errors as click.ClickException with every line of their message;
    anything unexpected as one line naming the saved traceback file."""
    try:
        yield
    except (click.ClickException, click.exceptions.Exit, click.Abort):
        raise
    except _user_errors() as exc:
        raise click.ClickException(_message(exc)) from None
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # noqa: BLE001 (the point: no traceback reaches the user)
        try:
            path = save_traceback(exc)
            where = f"full traceback saved to {path}"
        except OSError as err:
            where = f"the traceback could not be saved ({err.strerror})"
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        if isinstance(exc, MemoryError):  # a resource limit, not a bug: say what to lower
            raise click.ClickException(f"out of memory ({first or 'MemoryError'}); try fewer --tokens or --windows; "
                                       f"{where}") from None
        raise click.ClickException(f"internal error, a bug in stamp-sim: {type(exc).__name__}: {first}; "
                                   f"{where}") from None
