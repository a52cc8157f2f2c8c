"""A content-addressed blob store on the local filesystem.

A blob's name is the 0x-hex keccak256 of its bytes, so a stored blob can always be checked
against the commitment that names it. Writes go to a temporary file in the same directory tree,
are fsynced, renamed into place and the directory is fsynced: once ``put`` returns, the blob
survives a crash. Reads stream in fixed-size pieces, so serving a blob never holds it whole.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import IO

from Crypto.Hash import keccak

__all__ = ["BlobStore", "BlobStoreError", "PendingBlob", "keccak_file"]

_PIECE = 1 << 20


class BlobStoreError(OSError):
    """A blob is missing or the store cannot be written."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _keccak256() -> keccak.Keccak_Hash:
    """An incremental keccak256 that keeps no input.

    Not eth-hash's ``keccak.new()``: its pycryptodome preimage keeps every piece passed to
    ``update`` (to support ``copy``), i.e. the whole blob in memory while it streams to disk.
    """
    return keccak.new(digest_bits=256)


def keccak_file(path: Path) -> bytes:
    """keccak256 of a file's bytes, read in 1 MiB pieces."""
    digest = _keccak256()
    with path.open("rb") as handle:
        while piece := handle.read(_PIECE):
            digest.update(piece)
    return bytes(digest.digest())


class PendingBlob:
    """A blob being received: written to a temporary file while its keccak256 is computed."""

    def __init__(self, store: BlobStore, limit: int) -> None:
        self._store = store
        self._limit = limit
        self.path = store.tmp_dir / f"{uuid.uuid4().hex}.part"
        self._handle: IO[bytes] | None = self.path.open("wb")
        self._hash = _keccak256()
        self.size = 0

    def write(self, piece: bytes) -> None:
        """Append ``piece``; raises :class:`OverflowError` beyond the size limit."""
        if self._handle is None:
            raise BlobStoreError("pending blob already finished")
        self.size += len(piece)
        if self.size > self._limit:
            raise OverflowError(f"blob exceeds {self._limit} bytes")
        self._hash.update(piece)
        self._handle.write(piece)

    def finish(self) -> bytes:
        """Flush and fsync the temporary file; returns the keccak256 digest."""
        if self._handle is not None:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
            self._handle = None
        return bytes(self._hash.digest())

    def discard(self) -> None:
        """Delete the temporary file (on any rejection)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


class BlobStore:
    """Blobs under ``root/<first two hex digits>/<0x-hash>``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp_dir = root / "tmp"
        try:
            self.tmp_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BlobStoreError(f"cannot create the blob store at {root}: {exc}") from exc

    def path(self, digest: bytes) -> Path:
        """Where the blob named ``digest`` lives."""
        name = "0x" + digest.hex()
        return self.root / name[2:4] / name

    def exists(self, digest: bytes) -> bool:
        """Whether the blob is stored."""
        return self.path(digest).is_file()

    def pending(self, limit: int) -> PendingBlob:
        """Start receiving a blob of at most ``limit`` bytes."""
        return PendingBlob(self, limit)

    def commit(self, pending: PendingBlob, digest: bytes) -> Path:
        """Move a finished pending blob to its content address (idempotent)."""
        return self.adopt(pending.path, digest)

    def adopt(self, path: Path, digest: bytes) -> Path:
        """Move an fsynced file whose keccak256 is ``digest`` into the store (idempotent)."""
        target = self.path(digest)
        target.parent.mkdir(exist_ok=True)
        if target.is_file():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            return target
        path.replace(target)
        _fsync_dir(target.parent)
        return target

    def put(self, data: bytes) -> bytes:
        """Store ``data`` durably; returns its keccak256 digest."""
        pending = self.pending(len(data))
        try:
            pending.write(data)
            digest = pending.finish()
            self.commit(pending, digest)
        except BaseException:
            pending.discard()
            raise
        return digest

    def get(self, digest: bytes) -> bytes:
        """The blob's bytes; :class:`BlobStoreError` when it is missing."""
        try:
            return self.path(digest).read_bytes()
        except FileNotFoundError:
            raise BlobStoreError(f"blob 0x{digest.hex()} is not in the store") from None

    def open(self, digest: bytes) -> IO[bytes]:
        """An open binary file of the blob."""
        try:
            return self.path(digest).open("rb")
        except FileNotFoundError:
            raise BlobStoreError(f"blob 0x{digest.hex()} is not in the store") from None

    def size(self, digest: bytes) -> int:
        """Size in bytes of a stored blob."""
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError:
            raise BlobStoreError(f"blob 0x{digest.hex()} is not in the store") from None

    def iter_pieces(self, digest: bytes) -> Iterator[bytes]:
        """The blob in pieces of 1 MiB."""
        with self.open(digest) as handle:
            while piece := handle.read(_PIECE):
                yield piece

    async def aiter_pieces(self, digest: bytes) -> AsyncIterator[bytes]:
        """Async variant for streaming HTTP responses (each read runs in a worker thread)."""
        import anyio

        handle = await anyio.to_thread.run_sync(self.open, digest)
        try:
            while piece := await anyio.to_thread.run_sync(handle.read, _PIECE):
                yield piece
        finally:
            handle.close()

    def sweep_temporary(self) -> int:
        """Delete leftover temporary files (from a crash mid-upload); returns how many."""
        count = 0
        for leftover in self.tmp_dir.glob("*.part"):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
                count += 1
        return count
