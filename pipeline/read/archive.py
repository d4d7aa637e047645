"""Zip archives of exports: the back office delivers large exports as a `.zip` of CSV
files. An archive is read as the CSV and XLSX files it holds, in the order of their
names, as if they had been given one after the other; each is named
`archive.zip!member.csv` in messages and findings.

Refused, naming the archive (and the member): an archive that holds anything else, a
zip inside the zip, an encrypted member, and a zip bomb: members that would unpack to
more than `BOMB_BYTES` and more than `BOMB_RATIO` times the archive's size. Folders and
the `__MACOSX/` metadata a Mac adds are not files of the archive.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import InputError, first_line

#: A zip bomb: members unpacking to more than 1 GiB and more than 100 times the archive.
BOMB_BYTES = 1 << 30
BOMB_RATIO = 100
MEMBER_SUFFIXES = (".csv", ".xlsx")
UTF8_NAMES = 0x800  # the zip flag bit: member names are UTF-8


@dataclass(frozen=True)
class Member:
    archive: Path
    filename: str  # the name inside the archive, as zipfile knows it
    name: str  # `archive.zip!member.csv` for people
    size: int

    def head(self, size: int) -> bytes:
        with zipfile.ZipFile(self.archive) as zf, zf.open(self.filename) as fh:
            return fh.read(size)

    def read(self) -> bytes:
        with zipfile.ZipFile(self.archive) as zf:
            return zf.read(self.filename)

    @contextlib.contextmanager
    def extracted(self) -> Iterator[Path]:
        """The member unpacked to a temporary file, removed after the block."""
        folder = tempfile.mkdtemp(prefix=".doudian-zip-")
        try:
            target = Path(folder) / "member"
            with zipfile.ZipFile(self.archive) as zf, zf.open(self.filename) as src:
                with open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
            yield target
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def is_zip(head: bytes) -> bool:
    return head.startswith(b"PK\x03\x04")


def member_name(info: zipfile.ZipInfo) -> str:
    """The member's name as its maker wrote it: names not flagged UTF-8 were written in
    the maker's code page (GBK on Chinese Windows), which zipfile reads as CP437."""
    if info.flag_bits & UTF8_NAMES:
        return info.filename
    raw = info.filename.encode("cp437", errors="replace")
    for encoding in ("utf-8", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return info.filename


def archive_members(name: str, path: Path) -> list[Member]:
    """The CSV and XLSX members of the archive at `path` (shown as `name`), in name
    order; an InputError for an archive that cannot be read as exports."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise InputError(name, f"cannot be opened as a zip archive ({first_line(exc)})") from None
    files = [i for i in infos if not i.is_dir() and not i.filename.startswith("__MACOSX/")]
    if not files:
        raise InputError(name, "the zip archive holds no file")
    total = sum(i.file_size for i in files)
    size = max(os.stat(path).st_size, 1)
    if total > BOMB_BYTES and total > BOMB_RATIO * size:
        raise InputError(
            name,
            f"the zip archive would unpack to {total:,} bytes from {size:,} "
            f"({total // size:,} times its size): refused as a zip bomb",
            f"unpack it yourself if you trust it (at most {BOMB_RATIO} times the archive's "
            f"size or {BOMB_BYTES >> 30} GiB is read from a zip)",
        )
    members = sorted(
        (Member(path, i.filename, f"{name}!{member_name(i)}", i.file_size) for i in files),
        key=lambda m: m.name,
    )
    by_filename = {i.filename: i for i in files}
    for m in members:
        inner = m.name.rpartition("!")[2]
        if by_filename[m.filename].flag_bits & 0x1:
            raise InputError(m.name, "is encrypted: unpack the archive yourself first")
        if inner.lower().endswith(".zip"):
            raise InputError(m.name, "is a zip inside the zip archive: unpack it first")
        if not inner.lower().endswith(MEMBER_SUFFIXES):
            raise InputError(
                m.name, "is neither CSV nor XLSX: only CSV and XLSX files are read from a zip"
            )
    return members
