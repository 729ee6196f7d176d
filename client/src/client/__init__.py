"""The client service."""
