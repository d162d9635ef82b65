"""User-facing errors.

Anything a user can cause (bad input, unknown ids, a corrupted download) raises a
:class:`DeeprecsError` subclass with a one-line message that says what to fix.  The CLI
prints ``error: <message>`` and exits non-zero, never a traceback.
"""


class DeeprecsError(Exception):
    """Base class for errors the user can fix."""


class DataError(DeeprecsError):
    """Malformed, missing or inconsistent input data."""


class DownloadError(DeeprecsError):
    """A dataset could not be downloaded or failed its checksum."""


class UnknownIdError(DeeprecsError, KeyError):
    """A raw user or item id that the model does not know."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0]) if self.args else ""


class ConfigError(DeeprecsError):
    """Invalid options: unknown model, loss, split specification, ..."""


class UnknownFeatureError(DeeprecsError):
    """A feature column or value that a run's feature tables do not know (a newcomer's description)."""


class NoFeaturesError(DeeprecsError):
    """A newcomer described by features, for a run whose model has no features of that side."""
