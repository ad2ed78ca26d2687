"""The consumer's objects read back: which keys are the consumer's, in which format, and the
change events a Parquet body holds (Protobuf bodies are read with shared.framing).

A bucket may hold more than one sink's output (Protobuf objects, Parquet objects under their own
prefix, an Iceberg warehouse) and anything else a person put there, so the tools read only the
keys the consumer writes (consumer/objects/keys.py): `<prefix>/` followed by one of its layouts,
ending in `<topic>+<partition>+<first offset, 20 digits>.<extension>`. Anything else, the
consumer's journal included, is not a change object.
"""

import io
import re
from collections.abc import Iterable, Iterator
from typing import Final

import pyarrow as pa
import pyarrow.parquet as pq

PARQUET_MAGIC: Final = b"PAR1"  # a Parquet file starts and ends with it
# The extensions the consumer's formats give their objects (consumer/objects/formats/), by format.
EXTENSIONS: Final = {"binpb.gz": "protobuf", "binpb": "protobuf", "parquet": "parquet"}
_TOPIC: Final = r"[A-Za-z0-9._-]+"  # Kafka's legal topic characters
_DAY: Final = r"\d{4}-\d{2}-\d{2}"
_NAME: Final = r"\+(?P<partition>\d+)\+(?P<offset>\d{20})\.(?P<extension>binpb\.gz|binpb|parquet)"
# Layout by layout (hive-hourly, year-month-day-hour, entity-date), then the object's name.
LAYOUT: Final = re.compile(
    rf"(?:(?P<hive>{_TOPIC})/dt={_DAY}/hour=\d{{2}}/(?P=hive)"
    rf"|(?P<dated>{_TOPIC})/year=\d{{4}}/month=\d{{2}}/day=\d{{2}}/hour=\d{{2}}/(?P=dated)"
    rf"|customer/date={_DAY}/{_TOPIC}){_NAME}"
)


def key_format(key: str, prefix: str = "") -> str | None:
    """The format of the consumer's object at `key` written with `prefix`; None when `key` is
    not one (another prefix, another layout, a table's file, the journal, a stray key)."""
    match = _match(key, prefix)
    return EXTENSIONS[match["extension"]] if match else None


def position(key: str) -> tuple[int, int]:
    """(partition, first offset) of the consumer's object at `key`; ValueError for another key."""
    match = LAYOUT.search(key)
    if match is None:
        raise ValueError(f"{key} is not named like the consumer's objects")
    return int(match["partition"]), int(match["offset"])


def _match(key: str, prefix: str) -> re.Match[str] | None:
    head = prefix.strip("/")
    if head:
        if not key.startswith(f"{head}/"):
            return None
        key = key[len(head) + 1 :]
    return LAYOUT.fullmatch(key)


def prefixes_of(keys: Iterable[str], wanted: str) -> list[str]:
    """The prefixes under which `keys` hold the consumer's `wanted`-format objects, for a hint
    when none are where the user looked."""
    found: set[str] = set()
    for key in keys:
        cut = key.find("/")
        while cut > 0:
            if key_format(key[cut + 1 :]) == wanted:
                found.add(key[:cut])
                break
            cut = key.find("/", cut + 1)
    return sorted(found)


def is_parquet(data: bytes) -> bool:
    return len(data) >= 8 and data[:4] == PARQUET_MAGIC and data[-4:] == PARQUET_MAGIC


def parquet_batches(data: bytes) -> Iterator[pa.RecordBatch]:
    """The rows of a Parquet body, a row group at a time. Raises pa.ArrowException (or OSError)
    when the body is not readable Parquet."""
    return pq.ParquetFile(io.BytesIO(data)).iter_batches()
