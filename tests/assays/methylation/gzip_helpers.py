"""Helpers shared by the methylation gzip tests (imported as ``gzip_helpers``)."""

from __future__ import annotations

import zlib


def zlib_prefix(data: bytes) -> bytes:
    """What Python's zlib inflates from a (possibly cut) multi-member gzip stream."""
    out = []
    while data:
        d = zlib.decompressobj(wbits=31)
        out.append(d.decompress(data))
        if not d.eof:
            out.append(d.flush())
            break
        data = d.unused_data
    return b"".join(out)
