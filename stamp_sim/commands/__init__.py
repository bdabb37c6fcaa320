"""CLI subcommands, one small module each: parse options, call the library, print."""

COMMANDS: list = []
