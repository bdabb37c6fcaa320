"""The one exception the report package raises for bad input or an unwritable place."""

__all__ = ["ReportError"]


class ReportError(ValueError):
    """A report cannot be written: the message is one line naming the path or column and why."""
