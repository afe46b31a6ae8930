"""Giving freed heap memory back to the operating system (glibc's malloc_trim)."""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache


@cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


def trim() -> bool:
    """Release free memory at the top of every malloc arena; False where libc has no
    malloc_trim (musl, macOS)."""
    libc = _libc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True


M_ARENA_MAX = -8  # glibc's mallopt parameter


def limit_arenas(count: int) -> bool:
    """Cap glibc's malloc arenas. Each thread that allocates (extraction runs in threads)
    otherwise gets an arena of its own, and the free space left in each one after a burst
    of pages stays resident; two arenas keep an idle worker small for no measurable loss
    at this concurrency. False where libc has no mallopt."""
    libc = _libc()
    if libc is None or not hasattr(libc, "mallopt"):
        return False
    return bool(libc.mallopt(M_ARENA_MAX, count))
