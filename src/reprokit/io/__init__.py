"""Reading the user's tables: the one reader every entry point uses (`read_table`)."""

from reprokit.io.read import TableReadError, read_table

__all__ = ["TableReadError", "read_table"]
