"""The tables' file IO: metadata files this process wrote are read back from memory, other
files from storage; a write that fails keeps nothing."""

from pathlib import Path

import pytest

from chinook_shared.iceberg import file_io
from chinook_shared.iceberg.file_io import TableFileIO


@pytest.fixture(autouse=True)
def empty_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(file_io, "_WRITTEN", file_io._Written(1024))


def write(io: TableFileIO, location: str, body: bytes) -> None:
    with io.new_output(location).create(overwrite=True) as stream:
        stream.write(body)


def test_metadata_written_here_is_read_from_memory_and_data_from_storage(tmp_path: Path) -> None:
    io = TableFileIO()
    for name in ("00001-a.metadata.json", "snap-1.avro", "data.parquet"):
        write(io, f"file://{tmp_path}/{name}", name.encode())
    for name in ("00001-a.metadata.json", "snap-1.avro", "data.parquet"):
        assert (tmp_path / name).read_bytes() == name.encode()  # written to storage as well
        (tmp_path / name).unlink()
    for name in ("00001-a.metadata.json", "snap-1.avro"):
        kept = io.new_input(f"file://{tmp_path}/{name}")
        assert kept.exists() and len(kept) == len(name)
        with kept.open() as stream:
            assert stream.read() == name.encode()
    assert not io.new_input(f"file://{tmp_path}/data.parquet").exists()
    output = io.new_output(f"file://{tmp_path}/snap-1.avro")
    assert len(output) == len("snap-1.avro")  # a manifest's length, asked after writing it


def test_the_cache_keeps_the_most_recent_files_up_to_its_size(tmp_path: Path) -> None:
    io = TableFileIO()
    for index in range(3):
        write(io, f"file://{tmp_path}/m{index}.avro", bytes(400))
    assert file_io._WRITTEN.get(f"file://{tmp_path}/m0.avro") is None
    assert file_io._WRITTEN.get(f"file://{tmp_path}/m2.avro") == bytes(400)


def test_a_failed_write_keeps_nothing(tmp_path: Path) -> None:
    io = TableFileIO()
    location = f"file://{tmp_path}/failed.metadata.json"
    with pytest.raises(RuntimeError), io.new_output(location).create(overwrite=True) as stream:
        stream.write(b"half")
        raise RuntimeError("writer failed")
    assert file_io._WRITTEN.get(location) is None
