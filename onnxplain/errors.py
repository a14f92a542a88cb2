"""The one exception type for problems a user can cause and fix (bad input, missing file, wrong artifact).

The command line prints such an error as one sentence and exits with status 2; the server answers it with
a 4xx status. Anything else is a bug and keeps its traceback.
"""


class UserError(Exception):
    """A problem the user can fix; its message names the problem and the fix in one sentence."""


class RequestError(UserError):
    """A server request a user can fix, with the HTTP status that answers it (400, 413 or 422)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
