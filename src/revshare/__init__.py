"""revshare: meter open-weight model usage exactly once, settle licensors' shares, prove it."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
