"""The object format: length-delimited Protobuf records, optionally gzip-compressed.

Each record is its serialized bytes prefixed by their length as a base-128 varint, the framing
`protobuf`'s own `parse_length_prefixed` reads and Java's `writeDelimitedTo` writes. The writer
is hand-written because the consumer frames the bytes it received, without re-encoding them.
"""

import gzip
from collections.abc import Iterable, Iterator
from functools import lru_cache

GZIP_MAGIC = b"\x1f\x8b"


def varint(value: int) -> bytes:
    """`value` (non-negative) as a protobuf base-128 varint."""
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


length_prefix = lru_cache(maxsize=4096)(varint)
"""`varint`, remembered for the few thousand record lengths a stream actually has."""


def frame(records: Iterable[bytes]) -> bytes:
    """Concatenate `records`, each prefixed by its varint length."""
    return b"".join(part for record in records for part in (length_prefix(len(record)), record))


def unframe(data: bytes) -> Iterator[bytes]:
    """The records of a length-delimited stream (gzip is detected and undone first).

    Raises ValueError on a truncated stream.
    """
    if data[:2] == GZIP_MAGIC:
        data = gzip.decompress(data)
    yield from split(data)


def split(data: bytes | bytearray) -> Iterator[bytes]:
    """The records of an uncompressed length-delimited stream. Raises ValueError when truncated."""
    view = memoryview(data)
    position, end = 0, len(data)
    while position < end:
        length, shift = 0, 0
        while True:
            if position >= end:
                raise ValueError("truncated varint in length-delimited stream")
            byte = view[position]
            position += 1
            length |= (byte & 0x7F) << shift
            if byte < 0x80:
                break
            shift += 7
        if position + length > end:
            raise ValueError("truncated record in length-delimited stream")
        yield bytes(view[position : position + length])
        position += length


def compress(data: bytes | bytearray, level: int) -> bytes:
    """gzip `data` with a fixed mtime, so equal input gives equal objects (replays are byte-equal).

    One zlib call that releases the GIL: several bodies compress in parallel on threads.
    """
    return gzip.compress(data, compresslevel=level, mtime=0)
