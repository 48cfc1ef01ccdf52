"""Exceptions whose messages tell the user what went wrong and what to do; the CLI prints them in one line."""

from __future__ import annotations


class EarmarkError(Exception):
    """A user-facing error: bad input, bad config, missing file. Never a bug."""


class ConfigError(EarmarkError):
    """An unknown key, a wrong type or an impossible value in the configuration."""


class DataError(EarmarkError):
    """A dataset that cannot be used as given (no files, one class, empty split...)."""


class DecodeError(EarmarkError):
    """One audio file that cannot be used; the message names the reason, the caller names the file."""


class ExportError(EarmarkError):
    """An export that could not be made, or whose parity check against PyTorch failed."""
