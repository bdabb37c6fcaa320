"""stamp-sim: what a precision configuration costs on a chip and what it does to accuracy."""

__version__ = "0.1.0"
