"""Bounded decompression of a response body (Content-Encoding gzip, deflate, br).

httpx inflates each network chunk whole, so 64 KiB of a gzip bomb becomes ~64 MB before
any size check can look at it (brotli: far more). Here every step asks the decompressor
for at most `max_length` bytes and keeps the rest of the input for the next step, so the
caller's byte cap holds for the decompressed size while it is being produced.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Protocol

import brotli

ENCODINGS = ("gzip", "deflate", "br")
ACCEPT_ENCODING = ", ".join(ENCODINGS)


class UnsupportedEncoding(ValueError):
    """The body is in a Content-Encoding we did not offer and cannot decode."""


class DecodeError(ValueError):
    """The body is not valid data in its Content-Encoding."""


class Decoder(Protocol):
    def feed(self, data: bytes, max_length: int) -> Iterator[bytes]:
        """All output `data` leads to, in pieces of at most `max_length` bytes."""
        ...  # pragma: no cover


class ZlibDecoder:
    """gzip (wbits 31) and deflate; deflate is zlib-wrapped by the RFC, raw from some servers."""

    def __init__(self, wbits: int, *, raw_fallback: bool = False) -> None:
        self._obj = zlib.decompressobj(wbits)
        self._raw_fallback = raw_fallback
        self._started = False

    def feed(self, data: bytes, max_length: int) -> Iterator[bytes]:
        try:
            yield from self._inflate(data, max_length)
        except zlib.error as exc:
            if not (self._raw_fallback and not self._started):
                raise DecodeError(str(exc)) from None
            self._obj, self._raw_fallback = zlib.decompressobj(-zlib.MAX_WBITS), False
            yield from self.feed(data, max_length)

    def _inflate(self, data: bytes, max_length: int) -> Iterator[bytes]:
        while True:
            out = self._obj.decompress(data, max_length)
            self._started = True
            if out:
                yield out
            data = self._obj.unconsumed_tail
            # a full piece may leave output inside zlib even when all input was taken
            if not data and len(out) < max_length:
                return


class BrotliDecoder:
    def __init__(self) -> None:
        self._obj = brotli.Decompressor()

    def feed(self, data: bytes, max_length: int) -> Iterator[bytes]:
        try:
            out = self._obj.process(data, output_buffer_limit=max_length)
            while True:
                if out:
                    yield out
                if self._obj.can_accept_more_data() and len(out) < max_length:
                    return
                out = self._obj.process(b"", output_buffer_limit=max_length)
        except brotli.error as exc:
            raise DecodeError(str(exc) or "invalid brotli data") from None


class Identity:
    def feed(self, data: bytes, max_length: int) -> Iterator[bytes]:
        for start in range(0, len(data), max_length):
            yield data[start : start + max_length]


class Chain:
    """Encodings applied in order ("gzip, br"): undone in reverse, each step bounded."""

    def __init__(self, decoders: list[Decoder]) -> None:
        self._decoders = decoders

    def feed(self, data: bytes, max_length: int) -> Iterator[bytes]:
        return self._through(0, data, max_length)

    def _through(self, index: int, data: bytes, max_length: int) -> Iterator[bytes]:
        if index == len(self._decoders):
            yield data
            return
        for piece in self._decoders[index].feed(data, max_length):
            yield from self._through(index + 1, piece, max_length)


def _one(name: str) -> Decoder:
    if name in ("gzip", "x-gzip"):
        return ZlibDecoder(zlib.MAX_WBITS | 16)
    if name == "deflate":
        return ZlibDecoder(zlib.MAX_WBITS, raw_fallback=True)
    if name == "br":
        return BrotliDecoder()
    raise UnsupportedEncoding(name)


def decoder_for(content_encoding: str) -> Decoder:
    """The bounded decoder for a Content-Encoding header ("" or "identity": none)."""
    names = [n.strip().lower() for n in content_encoding.split(",")]
    decoders = [_one(n) for n in reversed(names) if n and n != "identity"]
    return Chain(decoders) if decoders else Identity()
