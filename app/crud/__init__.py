"""Crud package."""
