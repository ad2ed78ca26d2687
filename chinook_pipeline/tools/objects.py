"""Objects read back whatever their format: which format a key or a body is in, and the change
events a Parquet body holds (Protobuf bodies are read with shared.framing)."""

import io
from collections.abc import Iterator
from typing import Final

import pyarrow as pa
import pyarrow.parquet as pq

PARQUET_EXTENSION: Final = ".parquet"
PARQUET_MAGIC: Final = b"PAR1"  # a Parquet file starts and ends with it


def key_format(key: str) -> str:
    """The format a key names: `.parquet` objects are Parquet, every other object Protobuf."""
    return "parquet" if key.endswith(PARQUET_EXTENSION) else "protobuf"


def is_parquet(data: bytes) -> bool:
    return len(data) >= 8 and data[:4] == PARQUET_MAGIC and data[-4:] == PARQUET_MAGIC


def parquet_batches(data: bytes) -> Iterator[pa.RecordBatch]:
    """The rows of a Parquet body, a row group at a time. Raises pa.ArrowException (or OSError)
    when the body is not readable Parquet."""
    return pq.ParquetFile(io.BytesIO(data)).iter_batches()
