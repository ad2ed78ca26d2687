"""Catalog settings: table names, S3 properties without secrets and with request retries,
one-line errors."""

import warnings
from pathlib import Path

import pytest
from pyarrow.fs import AwsDefaultS3RetryStrategy
from pyiceberg.io import S3_RETRY_STRATEGY_IMPL, load_file_io
from pyiceberg.io.pyarrow import PyArrowFileIO, _import_retry_strategy

from chinook_shared.errors import PipelineError
from chinook_shared.iceberg.catalog import (
    CatalogSettings,
    open_catalog,
    s3_properties,
    safe_uri,
    table_identifier,
    table_read_error,
)
from chinook_shared.iceberg.file_io import TableFileIO
from chinook_shared.iceberg.s3_retries import S3_REQUEST_ATTEMPTS
from chinook_shared.s3 import S3Settings


def test_table_names_are_namespace_dot_name() -> None:
    assert table_identifier("chinook.customer_changes") == ("chinook", "customer_changes")
    assert table_identifier("prod.chinook.customers") == ("prod.chinook", "customers")
    for bad in ("customers", "chinook.", ".customers", "chinook.customer changes", ""):
        with pytest.raises(PipelineError, match=r"use NAMESPACE\.NAME"):
            table_identifier(bad)


def test_s3_properties_carry_endpoint_and_region_never_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAPLANTED")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "planted-secret")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9000")
    properties = s3_properties(S3Settings(region="eu-north-1"))
    assert properties["s3.endpoint"] == "http://127.0.0.1:9000"
    assert properties["s3.region"] == "eu-north-1"
    assert "planted" not in repr(properties) and "AKIA" not in repr(properties)
    assert s3_properties(S3Settings(endpoint_url="http://minio:9000"))["s3.endpoint"] == (
        "http://minio:9000"
    )


def test_s3_properties_make_pyiceberg_retry_each_s3_request() -> None:
    properties = s3_properties(S3Settings(endpoint_url="http://127.0.0.1:1", region="us-east-1"))
    strategy = _import_retry_strategy(properties[S3_RETRY_STRATEGY_IMPL])  # pyiceberg's loader
    assert isinstance(strategy, AwsDefaultS3RetryStrategy)
    assert strategy.max_attempts + 1 == S3_REQUEST_ATTEMPTS > 3  # pyarrow's default is 3 in all
    with warnings.catch_warnings():
        # pyiceberg only warns, and keeps pyarrow's default, when it cannot load the strategy
        warnings.simplefilter("error")
        PyArrowFileIO(properties).new_input("s3://bucket/key")  # builds the S3 filesystem


def test_s3_properties_make_pyiceberg_write_a_small_file_in_one_request() -> None:
    properties = s3_properties(S3Settings(endpoint_url="http://127.0.0.1:1", region="us-east-1"))
    io = load_file_io(properties, "s3://bucket/key")  # as the catalog builds it
    assert isinstance(io, TableFileIO)
    _, (options,) = io.fs_by_scheme("s3", "bucket").__reduce__()
    _, (plain,) = PyArrowFileIO(properties).fs_by_scheme("s3", "bucket").__reduce__()
    assert options == {**plain, "allow_delayed_open": True}


def test_an_unreachable_catalog_is_one_line_without_the_password() -> None:
    # The driver named: SQLAlchemy 2.1's default for postgresql:// is psycopg 3, not installed here
    uri = "postgresql+psycopg2://chinook:planted-secret@127.0.0.1:1/catalog"
    assert safe_uri(uri) == "postgresql+psycopg2://chinook:***@127.0.0.1:1/catalog"
    with pytest.raises(PipelineError) as raised:
        open_catalog(CatalogSettings(uri=uri, warehouse="s3://b/w"), S3Settings(region="us-east-1"))
    message = str(raised.value)
    assert "planted-secret" not in message and "\n" not in message
    assert message.startswith(
        "cannot open the Iceberg catalog at postgresql+psycopg2://chinook:***@"
    )


def test_no_uri_and_no_pyiceberg_configuration_says_how_to_configure(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PYICEBERG_HOME", str(tmp_path))
    with pytest.raises(PipelineError, match="no Iceberg catalog configured: pass --catalog-uri"):
        open_catalog(CatalogSettings(name="nothing"), S3Settings(region="us-east-1"))


def test_a_sqlite_catalog_gets_its_directory(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/deep/er/catalog.db"
    catalog = open_catalog(
        CatalogSettings(uri=uri, warehouse="s3://b/w"), S3Settings(region="us-east-1")
    )
    assert catalog.list_namespaces() == []
    assert (tmp_path / "deep" / "er" / "catalog.db").exists()


def test_a_table_whose_metadata_s3_lost_is_named_with_its_fix() -> None:
    gone = FileNotFoundError(
        "chinook-lake/iceberg/chinook/customers/metadata/00032-1f.metadata.json"
    )
    message = str(table_read_error("chinook.customers", gone))
    assert message.startswith("cannot read table chinook.customers: table metadata gone: ")
    assert "delete a SQLite catalog" in message and "check the S3 endpoint" not in message
    down = str(table_read_error("chinook.customers", OSError("connection refused")))
    assert down.endswith("connection refused: check the S3 endpoint and credentials")
