"""Spark reading the Iceberg tables as a user who outgrew DuckDB would: pyspark with Iceberg's
stock Spark runtime and AWS bundle from Maven Central, through Iceberg's JDBC catalog."""
