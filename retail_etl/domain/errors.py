"""The one exception the core raises for a file it must reject as a whole."""

from __future__ import annotations


class FileRejected(Exception):
    """A file that breaks the contract as a whole (docs/data-contract.md §1).

    `code` is one of `contract.FileError`; the message says what was found and where, so the
    ledger and the logs can show it without a traceback.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
