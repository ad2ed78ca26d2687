"""The Iceberg tables' file IO retries each S3 request on its own, as `s3_properties` sets it up:
the file IO pyiceberg builds from those properties (`file_io.TableFileIO`), behind the fault proxy, tries a failing
request S3_REQUEST_ATTEMPTS times (pyarrow's default is 3) whatever the fault."""

from typing import Any

import pytest
from pyiceberg.io import load_file_io

from chinook_shared.iceberg.catalog import s3_properties
from chinook_shared.iceberg.s3_retries import S3_REQUEST_ATTEMPTS
from chinook_shared.s3 import S3Settings
from tests.faults.s3_proxy import S3FaultProxy
from tests.faults.scenario import SEED


@pytest.mark.parametrize(
    "fault", [{"error_rate": 1.0}, {"reset_rate": 1.0}], ids=["500-503", "resets"]
)
def test_a_failing_s3_request_is_tried_the_configured_number_of_times(
    fault: dict[str, float], s3_env: dict[str, str], s3_client: Any, bucket: str
) -> None:
    s3_client.put_object(Bucket=bucket, Key="metadata.json", Body=b"{}")
    with S3FaultProxy(s3_env["AWS_ENDPOINT_URL_S3"], seed=SEED) as proxy:
        io = load_file_io(s3_properties(S3Settings(endpoint_url=proxy.endpoint_url)))
        proxy.configure(**fault)
        with pytest.raises(OSError):
            io.new_input(f"s3://{bucket}/metadata.json").open().read()
        proxy.configure()
        assert io.new_input(f"s3://{bucket}/metadata.json").open().read() == b"{}"
        counts = proxy.counts()
    print(f"S3 proxy: {dict(counts)}")
    assert counts["requests"] - counts["forwarded"] == S3_REQUEST_ATTEMPTS, counts
