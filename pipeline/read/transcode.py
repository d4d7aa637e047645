"""A CSV export's bytes as UTF-8: decoded and checked block by block, a big file in
several processes at once.

Python's codecs hold the GIL while they decode, so threads do not make a GB18030
file go faster: a file of `SPLIT_BYTES` or more is cut at line ends into `parts`
spans, this process decodes the first and each of the others is decoded by a worker
process that runs this file by itself (`python -I -S transcode.py ...`: standard
library only, nothing of the package imported) into a file of its own, appended in
order when it is done. A line end (0x0A) is never part of a GB18030 character, so a
span cut after one decodes as it would inside the whole file, and its errors name
the same bytes. A worker that cannot start or that fails for any reason but the
bytes themselves has its span decoded here instead: the result never depends on the
workers. While a big file is decoded, glibc's malloc keeps freed blocks for the next
(`kept_memory`).
"""

from __future__ import annotations

import codecs
import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

#: Bytes decoded at a time (whole lines; more when a line is longer).
BLOCK_BYTES = 1 << 24
#: A file this big or bigger is decoded in several processes.
SPLIT_BYTES = 1 << 26


class DecodeProblem(Exception):
    """What is wrong with the bytes, in words (without the file's name)."""


def decode(data: bytes, offset: int, enc: str, *, final: bool) -> str:
    """`data` (whole lines, from byte `offset` of the file) as text, or a DecodeProblem
    naming the byte. `final`: the data ends the file."""
    decoder = codecs.getincrementaldecoder(enc)(errors="strict")
    try:
        text = decoder.decode(data, final=False)
    except UnicodeDecodeError as exc:
        raise DecodeProblem(
            f"is not valid {enc.upper()} text near byte {offset + exc.start}"
        ) from None
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        where = "ends" if final else f"has a line that ends (near byte {offset + len(data)})"
        raise DecodeProblem(f"{where} in the middle of a {enc.upper()} character") from None
    return text


def _blocks(fh: BinaryIO, start: int, end: int) -> Iterator[tuple[bytes, int]]:
    """The bytes [start, end) of `fh` as (block of whole lines, its offset); `start` is
    a line's start, `end` a line's end or the end of the data."""
    pos = start
    while pos < end:
        fh.seek(pos)
        block = fh.read(min(BLOCK_BYTES, end - pos))
        cut = len(block)
        while pos + len(block) < end:
            cut = block.rfind(b"\n") + 1
            if cut:
                break
            # a line longer than the block: read on to its end
            block += fh.read(min(BLOCK_BYTES, end - pos - len(block)))
            cut = len(block)
        yield block[:cut], pos
        pos += cut


def transcode_span(
    src: Path, start: int, end: int, enc: str, out: BinaryIO, *, final: bool
) -> bool:
    """Bytes [start, end) of `src` written to `out` as UTF-8; whether they hold a `"`.
    `final`: the span ends the file's data."""
    quoted = False
    with open(src, "rb") as fh:
        for block, offset in _blocks(fh, start, end):
            text = decode(block, offset, enc, final=final and offset + len(block) >= end)
            utf8 = text.encode("utf-8")
            del text
            quoted = quoted or b'"' in utf8
            out.write(utf8)
    return quoted


def spans(src: Path, start: int, end: int, parts: int) -> list[tuple[int, int]]:
    """[start, end) cut into at most `parts` spans of about the same size, each cut
    just after a line end (fewer spans when lines are long)."""
    cuts = [start]
    with open(src, "rb") as fh:
        for i in range(1, parts):
            at = max(start + (end - start) * i // parts, cuts[-1])
            fh.seek(at)
            while at < end:
                window = fh.read(1 << 16)
                found = window.find(b"\n")
                if found >= 0:
                    at += found + 1
                    break
                if not window:
                    at = end
                    break
                at += len(window)
            if cuts[-1] < at < end:
                cuts.append(at)
    cuts.append(end)
    return list(zip(cuts, cuts[1:], strict=False))


def transcode(
    src: Path, start: int, end: int, enc: str, out: BinaryIO, work: Path, parts: int
) -> bool:
    """Bytes [start, end) of `src` (the data rows, up to the end of the data) written to
    `out` as UTF-8, in `parts` processes when there are `SPLIT_BYTES` or more; whether
    they hold a `"`. A DecodeProblem names the first bad byte of the file."""
    cut = spans(src, start, end, parts if end - start >= SPLIT_BYTES else 1)
    with contextlib.ExitStack() as stack:
        workers = [
            stack.enter_context(_Worker(src, s, e, enc, work, final=e == end)) for s, e in cut[1:]
        ]
        if workers:  # a big file: also a span decoded here when its worker failed
            stack.enter_context(kept_memory())
        quoted = transcode_span(src, *cut[0], enc, out, final=len(cut) == 1)
        for worker in workers:
            quoted = worker.append_to(out) or quoted
    return quoted


#: glibc's malloc settings (`mallopt`): M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, the value
#: that keeps freed blocks, and glibc's default for both
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _KEEP, _DEFAULT = -1, -3, 1 << 30, 128 * 1024


@contextlib.contextmanager
def kept_memory() -> Iterator[None]:
    """Inside, glibc's malloc keeps the memory of a freed block for the next one.

    A block's text and its UTF-8 bytes are tens of MB each: by default malloc maps
    fresh pages for each and hands them back when it is freed, and faulting them in
    again cost about a third of the decode's time. Afterwards both settings are glibc's
    defaults and the kept memory is handed back. Without glibc nothing changes."""
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        mallopt, trim = libc.mallopt, libc.malloc_trim
    except (ImportError, OSError, AttributeError, TypeError):
        mallopt = trim = None
    if mallopt is not None:
        mallopt(_M_TRIM_THRESHOLD, _KEEP)
        mallopt(_M_MMAP_THRESHOLD, _KEEP)
    try:
        yield
    finally:
        if mallopt is not None:
            mallopt(_M_MMAP_THRESHOLD, _DEFAULT)
            mallopt(_M_TRIM_THRESHOLD, _DEFAULT)
            trim(0)


class _Worker:
    """A worker process decoding one span into a file of its own in `work`."""

    def __init__(
        self, src: Path, start: int, end: int, enc: str, work: Path, *, final: bool
    ) -> None:
        self.src, self.start, self.end, self.enc, self.final = src, start, end, enc, final
        fd, name = tempfile.mkstemp(prefix=".utf8-part-", suffix=".csv", dir=work)
        os.close(fd)
        self.dest = Path(name)
        span = [enc, str(src), str(start), str(end), name, "final" if final else "part"]
        try:
            self.proc: subprocess.Popen[bytes] | None = subprocess.Popen(
                [sys.executable, "-I", "-S", __file__, *span],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        except OSError:  # no interpreter to run: the span is decoded here
            self.proc = None

    def __enter__(self) -> _Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.dest.unlink(missing_ok=True)

    def append_to(self, out: BinaryIO) -> bool:
        """Wait for the span, append it to `out`; whether it holds a `"`. Raises the
        worker's DecodeProblem; decodes the span here when the worker failed."""
        result = self._result()
        if result is None:
            return transcode_span(self.src, self.start, self.end, self.enc, out, final=self.final)
        if "problem" in result:
            raise DecodeProblem(result["problem"])
        out.flush()
        with open(self.dest, "rb") as part:
            _copy(part, out)
        return bool(result["quoted"])

    def _result(self) -> dict | None:
        if self.proc is None:
            return None
        report, _ = self.proc.communicate()
        if self.proc.returncode != 0:
            return None
        try:
            result = json.loads(report)
        except ValueError:
            return None
        return (
            result if isinstance(result, dict) and ({"problem", "quoted"} & set(result)) else None
        )


def _copy(src: BinaryIO, dest: BinaryIO) -> None:
    """All of `src` appended to `dest` (in the kernel where it can)."""
    size = os.fstat(src.fileno()).st_size
    done = 0
    try:
        while done < size:
            n = os.copy_file_range(src.fileno(), dest.fileno(), size - done)
            if n == 0:
                break
            done += n
    except (AttributeError, OSError):
        pass
    if done < size:
        src.seek(done)
        dest.seek(0, os.SEEK_END)
        while chunk := src.read(BLOCK_BYTES):
            dest.write(chunk)


def _main(argv: list[str]) -> int:
    """Worker: ENC SRC START END DEST final|part. Prints {"quoted": bool} or
    {"problem": message}; any other outcome is an exit code the caller sees."""
    enc, src, start, end, dest, final = argv
    with open(dest, "wb") as out, kept_memory():
        try:
            quoted = transcode_span(
                Path(src), int(start), int(end), enc, out, final=final == "final"
            )
        except DecodeProblem as exc:
            print(json.dumps({"problem": str(exc)}))
            return 0
    print(json.dumps({"quoted": quoted}))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
