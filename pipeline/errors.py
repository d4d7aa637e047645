"""The project's own exceptions. The CLI turns them into one-line messages and exit
codes; nothing below the CLI prints or exits."""

from __future__ import annotations

import re
from collections.abc import Mapping

#: Exit codes; what each means is `pipeline.outcome.EXITS`.
EXIT_OK = 0
EXIT_FILE = 1  # a file (or stage) cannot be used at all
EXIT_USAGE = 2  # a bad option or argument (Click's own code too)
EXIT_REJECTED = 3  # done, but some rows were rejected (or a warning status)
EXIT_INELIGIBLE = 4  # a check's verdict: not eligible (阶梯发货), or a refused category
EXIT_LOCKED = 75  # another command holds the output folder's lock (EX_TEMPFAIL: try later)


#: A setting named in a message or hint: `{opt:policy}`. The library never names a
#: command-line flag; whoever called it says where the setting came from (`render`).
SETTING = re.compile(r"\{opt:([a-z_]+)\}")


class DoudianError(Exception):
    """Base of the errors a user can cause. A message or hint names a setting as
    `{opt:policy}`; `render` shows it as the caller names it (`--policy` on the command
    line, `policy` of the config file in `doudian run`)."""

    exit_code = EXIT_FILE

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def render(self, names: Mapping[str, str]) -> str:
        """The message and hint with each setting shown by its name in `names` (a CLI
        flag, or a config key); a setting missing from `names` is shown as itself."""

        def name(setting: str) -> str:
            return names.get(setting, setting)

        message = SETTING.sub(lambda m: name(m.group(1)), self.message)
        if not self.hint:
            return message
        return f"{message}\n  hint: {SETTING.sub(lambda m: name(m.group(1)), self.hint)}"

    def __str__(self) -> str:
        return self.render({})


class InputError(DoudianError):
    """A file that cannot be used at all: unreadable, empty, wrong kind, missing column."""

    def __init__(self, path: str, message: str, hint: str | None = None) -> None:
        super().__init__(f"{path}: {message}", hint)
        self.path = path


class UsageError(DoudianError):
    """A bad option value found after Click's own parsing."""

    exit_code = EXIT_USAGE


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (a library's messages run long), or
    its type's name when it has none."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
