"""A small local Spark and the Iceberg catalog properties that read the pipeline's tables.

The catalog is Iceberg's JDBC catalog over the database pyiceberg's SQL catalog writes (the same
`iceberg_tables` rows), with S3FileIO against the S3 endpoint. Credentials are not properties:
the JVM inherits the process environment, where the AWS SDK's default chain finds them.
"""

import subprocess
from pathlib import Path
from typing import Final

from pyspark import SparkContext
from pyspark.sql import SparkSession
from sqlalchemy.engine import make_url

# Iceberg's JDBC catalog only sees rows whose catalog_name is its own name, and pyiceberg's SQL
# catalog writes its name, `default` unless --catalog-name says otherwise.
CATALOG: Final = "default"


def spark_name(table: str) -> str:
    """`table` (NAMESPACE.NAME) as Spark names it in the catalog CATALOG."""
    return f"{CATALOG}.{table}"


def start_spark(libs: Path, scratch: Path) -> SparkSession:
    """One driver in this machine's Java on loopback, kept small: 1 GB, one task at a time, no UI,
    with the jars in `libs` (as `--jars` gives them)."""
    jars = ",".join(str(jar) for jar in sorted(libs.glob("*.jar")))
    spark = (
        SparkSession.builder.master("local[1]")
        .appName("chinook-pipeline-tests")
        .config("spark.driver.memory", "1g")
        .config("spark.jars", jars)
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.warehouse.dir", str(scratch / "spark-warehouse"))
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def stop_spark(spark: SparkSession) -> None:
    """Stop Spark and its JVM: pyspark keeps the JVM for a later session otherwise, holding its
    memory for the rest of the test worker's life. The JVM exits when its stdin closes."""
    gateway = SparkContext._gateway
    spark.stop()
    if gateway is None:
        return
    gateway.shutdown()
    process: subprocess.Popen[bytes] = gateway.proc
    if process.stdin is not None:
        process.stdin.close()
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    SparkContext._gateway = None
    SparkContext._jvm = None


def catalog_properties(
    uri: str, warehouse: str, s3_endpoint: str, region: str, name: str = CATALOG
) -> dict[str, str]:
    """The Spark properties of the catalog `name` over the pyiceberg SQL catalog at the
    SQLAlchemy URI `uri` (sqlite:///PATH or postgresql+psycopg2://USER:PASSWORD@HOST:PORT/DB).
    The JDBC catalog wants a warehouse even to read."""
    url = make_url(uri)
    prefix = f"spark.sql.catalog.{name}"
    properties = {
        prefix: "org.apache.iceberg.spark.SparkCatalog",
        f"{prefix}.type": "jdbc",
        f"{prefix}.warehouse": warehouse,
        f"{prefix}.io-impl": "org.apache.iceberg.aws.s3.S3FileIO",
        f"{prefix}.s3.endpoint": s3_endpoint,
        f"{prefix}.s3.path-style-access": "true",
        f"{prefix}.client.region": region,
    }
    if url.get_backend_name() == "sqlite":
        properties[f"{prefix}.uri"] = f"jdbc:sqlite:{url.database}"
    elif url.get_backend_name() == "postgresql":
        address = f"{url.host}:{url.port or 5432}/{url.database}"
        properties[f"{prefix}.uri"] = f"jdbc:postgresql://{address}"
        properties[f"{prefix}.jdbc.user"] = url.username or ""
        properties[f"{prefix}.jdbc.password"] = url.password or ""
    else:
        raise ValueError(f"no JDBC catalog for {url.get_backend_name()!r}")
    return properties


def catalog_session(spark: SparkSession, properties: dict[str, str]) -> SparkSession:
    """A session of `spark`'s driver with its own catalogs: sessions share the JVM and the class
    path, not their SQL settings or loaded catalogs."""
    session = spark.newSession()
    for key, value in properties.items():
        session.conf.set(key, value)
    return session
