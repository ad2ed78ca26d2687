"""The jars of the pinned pom beside this file (Iceberg's Spark runtime, its AWS bundle, the
catalog databases' JDBC drivers), fetched once by Maven into the cache Kafka's jars use.

`python -m tests.spark.jars` fetches them ahead of a test run (`make test` does).
"""

from pathlib import Path

from chinook_pipeline.local.kafka.jars import fetch_jars

POM = Path(__file__).with_name("pom.xml")


def ensure_jars() -> Path:
    """The folder holding the jars, fetched first where it is missing."""
    return fetch_jars(POM, "spark-iceberg", "iceberg-spark-runtime-*.jar")


if __name__ == "__main__":
    print(ensure_jars())
