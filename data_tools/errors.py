"""The one exception type for bad input: the CLI prints its message and exits 2."""


class DataError(ValueError):
    """Bad input a user can fix: the message names the file, the row and the problem."""

    def __init__(self, message, path=None, row=None):
        where = ""
        if path is not None:
            where = f"{path}"
            if row is not None:
                where += f", row {row}"
            where += ": "
        super().__init__(where + message)


class UsageError(ValueError):
    """A flag or a combination of flags that cannot work (no run to resume, no weights)."""
