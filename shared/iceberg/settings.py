"""Which Iceberg catalog: its options, kept apart from pyiceberg so the command line starts fast."""

from dataclasses import dataclass

from chinook_shared.settings import Settings, setting


@dataclass(frozen=True)
class CatalogSettings(Settings):
    """Which catalog: `uri` for a SQL catalog, else pyiceberg's configuration of `name`."""

    uri: str | None = setting(
        None,
        flag="catalog-uri",
        secret=True,  # a PostgreSQL URI may carry a password
        shown_default="pyiceberg's own configuration",
        help="Iceberg SQL catalog: sqlite:///PATH or postgresql+psycopg2://USER@HOST/DB.",
    )
    warehouse: str | None = setting(None, help="Where new tables go: s3://BUCKET/PREFIX.")
    name: str = setting(
        "default",
        flag="catalog-name",
        help="Catalog name (pyiceberg's configuration and the SQL catalog's key).",
    )
