"""The Iceberg catalog, built the same way for the consumer and the tools.

With a URI it is pyiceberg's SQL catalog (`sqlite:///PATH` for the embedded default,
`postgresql+psycopg2://...` in compose); without one, pyiceberg's own configuration decides
(`.pyiceberg.yaml`, `PYICEBERG_CATALOG__<NAME>__*`: REST, Glue, ...). Either way the S3 endpoint
and region come from the settings the services use (S3Settings, then the standard AWS chain), and
each S3 request is retried on its own (shared/iceberg/s3_retries.py), a small file written in one
request (shared/iceberg/file_io.py).
Credentials are never passed: pyarrow's S3 filesystem reads the standard AWS chain itself, so no
secret enters a catalog property, a log line or an error message.
"""

import os
import re
from pathlib import Path
from typing import Final

import boto3
from pyiceberg.catalog import Catalog, load_catalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.io import PY_IO_IMPL, S3_RETRY_STRATEGY_IMPL
from pyiceberg.table import Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from chinook_shared.errors import PipelineError
from chinook_shared.iceberg.file_io import FILE_IO_IMPL
from chinook_shared.iceberg.s3_retries import RETRY_STRATEGY_IMPL
from chinook_shared.iceberg.settings import CatalogSettings
from chinook_shared.retry import classify
from chinook_shared.s3 import S3Settings


class CatalogSettingsError(PipelineError):
    """The catalog settings cannot work: no retry fixes them (a bad URI, no catalog configured, a
    catalog database that refuses the login)."""


_TABLE_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")


def table_identifier(name: str) -> tuple[str, str]:
    """`chinook.customer_changes` -> ("chinook", "customer_changes"); raises PipelineError."""
    if not _TABLE_NAME.match(name):
        raise PipelineError(
            f"bad table name {name!r}: use NAMESPACE.NAME, e.g. chinook.customer_changes"
        )
    namespace, _, table = name.rpartition(".")
    return namespace, table


def load_table(catalog: Catalog, name: str) -> Table:
    """An existing table; raises PipelineError when the name is bad, the table is missing or its
    metadata cannot be read from S3."""
    table_identifier(name)
    try:
        return catalog.load_table(name)
    except NoSuchTableError:
        raise PipelineError(
            f"table {name} not found in the Iceberg catalog {catalog.name!r}: check the name, "
            "or run the consumer with it first"
        ) from None
    except OSError as error:
        raise table_read_error(name, error) from None


def table_read_error(name: str, error: OSError) -> PipelineError:
    """A table's files that cannot be read (S3 down, denied, gone), as one line with the fix."""
    fault = classify(error)
    if fault.permanent:
        return PipelineError(f"cannot read table {name}: {fault}")
    return PipelineError(
        f"cannot read table {name}: {_one_line(error)}: check the S3 endpoint and credentials"
    )


def safe_uri(uri: str) -> str:
    """The catalog URI with any password masked, for messages."""
    try:
        return make_url(uri).render_as_string(hide_password=True)
    except ArgumentError:
        return re.sub(r"//[^@/]*@", "//***@", uri)


def s3_properties(s3: S3Settings) -> dict[str, str]:
    """pyiceberg's S3 file IO properties: the file IO (`file_io`: one request per small file),
    endpoint, region, timeouts and request retries, never credentials."""
    properties = {
        PY_IO_IMPL: FILE_IO_IMPL,
        "s3.connect-timeout": str(s3.connect_timeout),
        "s3.request-timeout": str(s3.read_timeout),
        S3_RETRY_STRATEGY_IMPL: RETRY_STRATEGY_IMPL,
    }
    endpoint = (
        s3.endpoint_url
        or os.environ.get("AWS_ENDPOINT_URL_S3")
        or os.environ.get("AWS_ENDPOINT_URL")
    )
    if endpoint:
        properties["s3.endpoint"] = endpoint
    region = s3.region or boto3.session.Session().region_name
    if region:
        properties["s3.region"] = region
    return properties


def open_catalog(settings: CatalogSettings, s3: S3Settings) -> Catalog:
    """A connected catalog; raises PipelineError (one line, no secrets) when it cannot open:
    CatalogSettingsError when the settings cannot work, whether or not the catalog is up."""
    properties = s3_properties(s3)
    if settings.warehouse:
        properties["warehouse"] = settings.warehouse
    if settings.uri is None:
        return _configured(settings.name, properties)
    where = safe_uri(settings.uri)
    try:
        url = make_url(settings.uri)
    except ArgumentError:
        raise CatalogSettingsError(
            f"bad catalog URI {where!r}: use sqlite:///PATH or postgresql+psycopg2://USER@HOST/DB"
        ) from None
    if url.get_backend_name() == "sqlite" and url.database:
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    try:
        return SqlCatalog(settings.name, uri=settings.uri, **properties)
    except (NoSuchModuleError, ImportError) as error:
        raise CatalogSettingsError(
            f"no database driver for the catalog at {where}: {_one_line(error, url.password)}: "
            "use sqlite:///PATH or postgresql+psycopg2://..."
        ) from None
    except Exception as error:
        fault = classify(error)
        if fault.permanent:
            raise CatalogSettingsError(
                f"the Iceberg catalog at {where} refused: {_one_line(error, url.password)}: "
                f"{fault.fix}"
            ) from None
        raise PipelineError(
            f"cannot open the Iceberg catalog at {where}: {_one_line(error, url.password)}: "
            "check --catalog-uri and that the database is up"
        ) from None


def _configured(name: str, properties: dict[str, str]) -> Catalog:
    try:
        return load_catalog(name, **properties)
    except ValueError as error:
        if "URI missing" in str(error) or "Could not initialize" in str(error):
            raise CatalogSettingsError(
                f"no Iceberg catalog configured: pass --catalog-uri (sqlite:///PATH or "
                f"postgresql+psycopg2://...) or configure pyiceberg's catalog {name!r} "
                f"(.pyiceberg.yaml or PYICEBERG_CATALOG__{name.upper()}__*)"
            ) from None
        raise CatalogSettingsError(f"bad Iceberg catalog {name!r}: {_one_line(error)}") from None
    except Exception as error:
        raise PipelineError(
            f"cannot open the Iceberg catalog {name!r}: {_one_line(error)}: check pyiceberg's "
            "configuration and that the catalog service is up"
        ) from None


def _one_line(error: BaseException, secret: str | None = None) -> str:
    text = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return text.replace(secret, "***") if secret else text
