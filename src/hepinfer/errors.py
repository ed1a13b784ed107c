"""The errors hepinfer raises on purpose.

Every message names the bad value and says what to do; the CLI prints it on one line and
exits 1 (``--debug`` shows the traceback).
"""

from __future__ import annotations


class HepinferError(Exception):
    """Base of every error hepinfer raises on purpose."""


class ConfigurationError(HepinferError):
    """A bad option, name, batch size or dimension given by the user."""


class ModelError(HepinferError):
    """A model file that is missing, unreadable, or not what it claims to be."""


class ModelInputError(HepinferError):
    """Inputs that do not fit the model, or a model that rejects its inputs."""


class BackendUnavailable(HepinferError):
    """A backend that cannot run here: a missing package, device or format."""


class MissingDependency(BackendUnavailable):
    """An optional package that is not installed; the message names the extra that installs it."""


class ConversionError(HepinferError):
    """A model that could not be converted (exported, compiled) for a backend."""


class ResultsError(HepinferError):
    """A results file that cannot be read or written."""


class DataError(ModelInputError):
    """An event file that is missing, truncated, or not in a format hepinfer reads."""


def first_line(err: BaseException) -> str:
    """The first line of an exception's message (its type name when it has none): what a
    one-line error or an error record quotes from a framework's multi-line message."""
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__
