"""One error family for problems the user can fix.

``RsftError`` and its subclasses are printed by the CLI as plain messages (no traceback): they name the file, the
row and the field where that applies, and say how to fix it. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from dataclasses import dataclass


class RsftError(Exception):
    """A user-fixable problem.

    Args:
        message: what is wrong, in one sentence.
        file: the file (or hub id) concerned.
        row: 0-based row index in that file, where the problem is in one row.
        field: column or config key concerned.
        fix: what the user can do about it.
    """

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        field: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.message = message
        self.file = None if file is None else str(file)
        self.row = row
        self.field = field
        self.fix = fix
        super().__init__(self.render())

    def render(self) -> str:
        where = []
        if self.file is not None:
            where.append(f"file {self.file}")
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.field is not None:
            where.append(f"field '{self.field}'")
        text = (", ".join(where) + ": " if where else "") + self.message
        if self.fix:
            text += f"\n  fix: {self.fix}"
        return text


class DataError(RsftError):
    """Bad input data (a dataset file, a row, a field)."""


class OfflineError(RsftError):
    """A hub id or URL could not be reached (this machine may be offline)."""


class MissingDependencyError(RsftError):
    """An optional dependency is needed for a feature; the message carries the install line."""

    def __init__(self, feature: str, package: str, extra: str | None = None) -> None:
        hint = f"pip install 'rsft[{extra}]'" if extra else f"pip install {package}"
        super().__init__(f"{feature} needs the package '{package}', which is not installed", fix=hint)


@dataclass(frozen=True)
class Problem:
    """One problem in a config file: where (dotted key) and what."""

    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


class ConfigError(RsftError):
    """Every problem of one config file at once."""

    def __init__(self, problems: list[Problem], *, file: str | None = None) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        noun = "problem" if len(self.problems) == 1 else "problems"
        super().__init__(
            f"{len(self.problems)} config {noun}:\n{lines}",
            file=file,
            fix="correct the keys above (unknown keys are rejected; `rsft validate FILE` checks a file)",
        )
