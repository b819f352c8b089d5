"""The Presentation Analytics Platform service."""
