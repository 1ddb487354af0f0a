"""The installed distribution's version, for ``__version__`` and the User-Agent."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__ = version("blobhouse")
except PackageNotFoundError:  # a source tree without dist-info (e.g. vendored)
    __version__ = "0.0.0"
