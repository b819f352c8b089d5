"""The Presentation Analytics Platform service."""

__version__ = "1.0.0"
