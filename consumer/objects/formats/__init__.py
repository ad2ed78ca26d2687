"""Object formats: how the records of one object (a `TimeGroup`) become its body.

The format is the one pluggable piece between batching and uploading (Quix Streams' "format", as
opposed to its "destination"): one module per format, each giving an object's body, extension and
content type. Keys, the journal, uploads and commits are the same whatever the format, so every
guarantee holds for each of them.
"""

from typing import Final, Protocol

from chinook_consumer.buffer import TimeGroup
from chinook_shared.changes import MESSAGE_TYPE
from chinook_shared.errors import PipelineError

FORMATS: Final = ("protobuf", "parquet")


class ObjectFormat(Protocol):
    @property
    def extension(self) -> str: ...

    @property
    def content_type(self) -> str: ...

    def encode(self, group: TimeGroup, partition: int) -> bytes:
        """The body of the object holding `group`, records of `partition` (safe to call from
        several threads at once; the same records always give the same body)."""
        ...


def object_format(name: str, compression: str | None, gzip_level: int) -> ObjectFormat:
    """The format called `name`, compressing with `compression` (None: the format's default).

    Raises PipelineError for an unknown format or a compression the format does not offer.
    """
    if name == "protobuf":
        from chinook_consumer.objects.formats.protobuf import ProtobufFormat

        return ProtobufFormat(_check(name, compression, ProtobufFormat.COMPRESSIONS), gzip_level)
    if name == "parquet":
        from chinook_consumer.objects.formats.parquet import ParquetFormat

        return ParquetFormat(_check(name, compression, ParquetFormat.COMPRESSIONS))
    raise PipelineError(f"unknown format {name!r}: use one of {', '.join(FORMATS)}")


def _check(name: str, compression: str | None, offered: tuple[str, ...]) -> str:
    """`compression`, or the first of `offered` (the default) when None."""
    if compression is None:
        return offered[0]
    if compression not in offered:
        raise PipelineError(
            f"{name} objects cannot use compression {compression!r}: use one of {', '.join(offered)}"
        )
    return compression


def metadata(group: TimeGroup) -> dict[str, str]:
    """S3 user metadata describing an object's records (offsets are inclusive), in every format."""
    return {
        "record-count": str(group.count),
        "first-offset": str(group.first_offset),
        "last-offset": str(group.last_offset),
        "message-type": MESSAGE_TYPE,
    }
