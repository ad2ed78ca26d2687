"""The Iceberg tables' file IO: pyiceberg's PyArrowFileIO with fewer S3 round trips per commit.

- **One request per small file written.** pyarrow's S3 output stream opens a multipart upload
  when the file is opened, so each file a commit writes (data file, delete file, manifests,
  manifest list, metadata) costs three requests (create, part, complete), however small. With
  pyarrow's `allow_delayed_open` the upload is only opened once 10 MB are buffered; a smaller
  file is one PutObject when it is closed. What is lost, an unwritable bucket reported at open
  rather than at close, changes nothing here: pyiceberg closes every file before it commits. A
  repeated PutObject of the same bytes is as safe to retry as the multipart requests were
  (`s3_retries`).
- **Metadata this process wrote is read back from memory.** A table's metadata files, manifest
  lists and manifests are written once under names no other file takes, and never changed, so
  the bytes written are the bytes a later read would get. The next commit of the same writer
  reads them all back (the catalog re-reads the metadata to commit, a refresh reads it again, the
  state table's lookup reads the manifest list and the new manifests, pyiceberg asks each new
  manifest's length): up to METADATA_CACHE_BYTES of them are kept, least recently used dropped
  first; anything else is read from S3.

pyiceberg 0.12 has no property for either: `s3_properties` selects this class through
`py-io-impl`. The S3 filesystem pyiceberg builds is rebuilt from its options (pyarrow's
`__reduce__`, which leaves out the retry strategy, set again from pyiceberg's property).
"""

import io
import threading
from collections import OrderedDict
from types import TracebackType
from typing import Final

from pyarrow.fs import FileSystem, S3FileSystem
from pyiceberg.io import S3_RETRY_STRATEGY_IMPL, InputFile, InputStream, OutputFile, OutputStream
from pyiceberg.io.pyarrow import PyArrowFileIO, _import_retry_strategy

METADATA_CACHE_BYTES: Final = 32 * 1024 * 1024
_METADATA_SUFFIXES: Final = (".metadata.json", ".avro")


class _Written:
    """The bytes of metadata files this process wrote, by location, up to a total size."""

    def __init__(self, limit: int) -> None:
        self._files: OrderedDict[str, bytes] = OrderedDict()
        self._size, self._limit = 0, limit
        self._lock = threading.Lock()

    def get(self, location: str) -> bytes | None:
        with self._lock:
            body = self._files.get(location)
            if body is not None:
                self._files.move_to_end(location)
            return body

    def put(self, location: str, body: bytes) -> None:
        with self._lock:
            if location in self._files or len(body) > self._limit:
                return
            self._files[location] = body
            self._size += len(body)
            while self._size > self._limit:
                _, dropped = self._files.popitem(last=False)
                self._size -= len(dropped)


_WRITTEN = _Written(METADATA_CACHE_BYTES)


class TableFileIO(PyArrowFileIO):
    """PyArrowFileIO writing a file under 10 MB to S3 as one PutObject, and reading the metadata
    files this process wrote from memory."""

    def _initialize_s3_fs(self, netloc: str | None) -> FileSystem:
        built = super()._initialize_s3_fs(netloc)
        rebuild, (options,) = built.__reduce__()  # pyarrow's copy of the options but one:
        strategy = self.properties.get(S3_RETRY_STRATEGY_IMPL)  # the retries, set again
        retries = _import_retry_strategy(strategy) if strategy else None
        extra = {"retry_strategy": retries} if retries is not None else {}
        filesystem = rebuild({**options, **extra, "allow_delayed_open": True})
        assert isinstance(filesystem, S3FileSystem)
        return filesystem

    def new_input(self, location: str) -> InputFile:  # type: ignore[override]
        body = _WRITTEN.get(location)
        return _Remembered(location, body) if body is not None else super().new_input(location)

    def new_output(self, location: str) -> OutputFile:  # type: ignore[override]
        output = super().new_output(location)
        return _Remembering(output) if location.endswith(_METADATA_SUFFIXES) else output


class _Remembered(InputFile):
    """A metadata file this process wrote, read from memory."""

    def __init__(self, location: str, body: bytes) -> None:
        super().__init__(location)
        self._body = body

    def __len__(self) -> int:
        return len(self._body)

    def exists(self) -> bool:
        return True

    def open(self, seekable: bool = True) -> InputStream:
        return io.BytesIO(self._body)


class _Remembering(OutputFile):
    """An output file whose bytes are kept once it is written and closed."""

    def __init__(self, output: OutputFile) -> None:
        super().__init__(output.location)
        self._output = output

    def __len__(self) -> int:
        body = _WRITTEN.get(self.location)
        return len(body) if body is not None else len(self._output)

    def exists(self) -> bool:
        return self._output.exists()

    def to_input_file(self) -> InputFile:
        body = _WRITTEN.get(self.location)
        return (
            _Remembered(self.location, body) if body is not None else self._output.to_input_file()
        )

    def create(self, overwrite: bool = False) -> OutputStream:
        return _Tee(self.location, self._output.create(overwrite))


class _Tee(OutputStream):
    """Writes to S3 and to memory; what was written is kept once the S3 file is closed."""

    def __init__(self, location: str, stream: OutputStream) -> None:
        self._location, self._stream, self._copy = location, stream, io.BytesIO()

    def write(self, b: bytes) -> int:
        self._copy.write(b)
        return self._stream.write(b)

    def tell(self) -> int:
        return self._stream.tell()

    def close(self) -> None:
        self._stream.close()  # raises when the file was not written: nothing is kept then
        if not self._copy.closed:
            _WRITTEN.put(self._location, self._copy.getvalue())
            self._copy.close()

    def __enter__(self) -> OutputStream:
        return self

    def __exit__(
        self,
        exctype: type[BaseException] | None,
        excinst: BaseException | None,
        exctb: TracebackType | None,
    ) -> None:
        if exctype is None:
            self.close()
        else:  # as the stream itself would end, and nothing kept
            self._copy.close()
            self._stream.__exit__(exctype, excinst, exctb)


FILE_IO_IMPL: Final = f"{TableFileIO.__module__}.{TableFileIO.__qualname__}"
"""The value of pyiceberg's `py-io-impl` property that selects TableFileIO."""
