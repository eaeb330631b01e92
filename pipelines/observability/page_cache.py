"""Cold vs warm page cache, for our own files only.

evict(paths) fsyncs each file (dirty pages cannot be dropped), asks the kernel to drop its cached pages
(posix_fadvise POSIX_FADV_DONTNEED), then measures how much of it is still resident (mincore), so a "cold"
run states how cold it really was. We never drop the whole host's cache (/proc/sys/vm/drop_caches): other
people's work shares this machine. Where eviction cannot work, the result says why:
- tmpfs, ramfs (and overlay over them): the page cache is the storage, nothing can be dropped;
- pages mapped by a live process (an mmap'd index in a running server) stay resident;
- files owned by someone else are left alone;
- network filesystems (NFS, Lustre clients): the local cache drops, the server's cache stays warm;
- on a virtual machine the host may cache the virtual disk: device reads then come from host memory, so a
  cold run shows device bytes (read_bytes) but not real disk latency.
"""

from __future__ import annotations

import ctypes
import mmap
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pipelines.observability.fsio import fsync_fd

MEMORY_FILESYSTEMS = {"tmpfs", "ramfs", "hugetlbfs"}
STILL_RESIDENT = 0.01  # share of pages still cached above which an eviction did not take


@dataclass(slots=True)
class Eviction:
    path: str
    fs_type: str
    size_bytes: int
    resident_before: float  # share of the file's pages in the page cache
    resident_after: float
    evicted: bool
    note: str = ""


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_long,
    ]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_ubyte)]
    return libc


def resident_share(fd: int, size: int) -> float:
    """Share of a file's pages in the page cache (mincore on a mapping that touches no page)."""
    if size == 0:
        return 0.0
    libc = _libc()
    addr = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
    if addr in (None, ctypes.c_void_p(-1).value):
        raise OSError(ctypes.get_errno(), "mmap for mincore failed")
    try:
        pages = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE
        vec = (ctypes.c_ubyte * pages)()
        if libc.mincore(addr, size, vec) != 0:
            raise OSError(ctypes.get_errno(), "mincore failed")
        return sum(b & 1 for b in vec) / pages
    finally:
        libc.munmap(addr, size)


def fs_type(path: Path) -> str:
    """The filesystem type of the mount holding `path` (longest matching mount point in mountinfo)."""
    target = str(path.resolve())
    best, kind = "", "unknown"
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        for line in fh:
            left, _, right = line.partition(" - ")
            mount_point = left.split()[4].replace("\\040", " ")
            inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
            if inside and len(mount_point) >= len(best):
                best, kind = mount_point, right.split()[0]
    return kind


def _files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            yield path


def evict_file(path: Path) -> Eviction:
    kind = fs_type(path)
    stat = path.stat()
    if stat.st_uid != os.geteuid():
        return Eviction(str(path), kind, stat.st_size, -1.0, -1.0, False, "not ours: left alone")
    fd = os.open(path, os.O_RDONLY)
    try:
        before = resident_share(fd, stat.st_size)
        fsync_fd(fd)  # dirty pages cannot be dropped: write them first
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        after = resident_share(fd, stat.st_size)
    finally:
        os.close(fd)
    evicted = after <= STILL_RESIDENT
    note = ""
    if not evicted:
        note = (
            f"{kind}: memory is the storage, nothing to drop"
            if kind in MEMORY_FILESYSTEMS
            else f"{after:.0%} still cached: mapped by a live process, or {kind} ignores DONTNEED"
        )
    return Eviction(str(path), kind, stat.st_size, before, after, evicted, note)


def evict(paths: Iterable[Path]) -> list[Eviction]:
    """Drop our files (or every file under our folders) from the page cache; one result per file."""
    return [evict_file(path) for path in _files(paths)]


@dataclass(slots=True)
class EvictionSummary:
    files: int
    size_bytes: int
    evicted_bytes: int
    notes: list[str]

    @property
    def evicted_share(self) -> float:
        return self.evicted_bytes / self.size_bytes if self.size_bytes else 1.0


def eviction_summary(results: list[Eviction]) -> EvictionSummary:
    return EvictionSummary(
        files=len(results),
        size_bytes=sum(r.size_bytes for r in results),
        evicted_bytes=sum(r.size_bytes for r in results if r.evicted),
        notes=sorted({r.note for r in results if r.note}),
    )
