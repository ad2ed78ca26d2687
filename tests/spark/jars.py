"""The jars of the pinned pom beside this file (Iceberg's Spark runtime, its AWS bundle, the
catalog databases' JDBC drivers), fetched once by Maven into the cache Kafka's jars use.

The folder is named after the pom's digest, so a changed pin fetches anew instead of running with
stale jars. `python -m tests.spark.jars` fetches them ahead of a test run (`make test` does).
"""

import hashlib
from pathlib import Path

from chinook_pipeline.local.kafka.jars import cache_dir, ensure_maven_jars

POM = Path(__file__).with_name("pom.xml")


def ensure_jars() -> Path:
    """The folder holding the jars, fetched first where it is missing."""
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()[:12]
    libs = cache_dir() / f"spark-iceberg-{digest}" / "libs"
    return ensure_maven_jars(POM, libs, "iceberg-spark-runtime-*.jar", "Iceberg's Spark runtime")


if __name__ == "__main__":
    print(ensure_jars())
