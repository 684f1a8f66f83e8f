"""Errors that are the user's to fix: the CLI prints them as one line, the dashboard next to the field."""


class UserError(ValueError):
    """A mistake in what the user asked for: the message names the field, the value and what is allowed."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class UnknownTaskError(UserError):
    pass


class TaskUnavailableError(UserError):
    """The task exists but its data cannot be loaded here; the message says why and how to fix it."""
