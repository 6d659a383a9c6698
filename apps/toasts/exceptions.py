"""The application's own errors: what services refuse, in words a client can act on.

Services raise them without knowing about HTTP; exception_handlers.py turns
them into answers.
"""


class ApplicationError(Exception):
    """A request the application refuses, on `field` of its input (None: as a whole)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
