"""The summary of `verify` and `iceberg verify` names what was compared with the database."""

from chinook_pipeline.tools.verify import VerifyReport, _compare
from chinook_shared.changes import COLUMN_NAMES


def row(customer_id: int, first_name: str) -> tuple[object, ...]:
    return (customer_id, first_name, *[None] * (len(COLUMN_NAMES) - 2))


DATABASE = {1: row(1, "Ana"), 2: row(2, "Bo"), 3: row(3, "Cy")}


def test_a_table_mismatch_speaks_of_the_table_not_s3() -> None:
    report = VerifyReport(kind="data files", source="the state table")
    _compare(
        DATABASE, {2: row(2, "Bob"), 3: row(3, "Cy"), 9: row(9, "Zed")}, report, found_as="table"
    )
    summary = report.summary()
    assert "missing from the state table (customer ids): 1" in summary
    assert "in the state table but not in the database (customer ids): 9" in summary
    assert "db='Bo' table='Bob'" in summary and "S3" not in summary and "s3=" not in summary


def test_an_object_mismatch_speaks_of_s3_and_hints_where_to_look() -> None:
    report = VerifyReport(hints=["the consumer's parquet objects are under --prefix parquet"])
    _compare(DATABASE, {}, report)
    assert "missing from S3 (customer ids): 1, 2, 3" in report.summary()
    assert report.summary().endswith(
        "  hint: the consumer's parquet objects are under --prefix parquet"
    )
