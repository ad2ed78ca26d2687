"""The S3 fault proxy itself, against the real moto server: it forwards signed requests intact and
injects exactly the faults it is told to."""

import http.client
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError

from chinook_pipeline.local import embedded
from chinook_shared.s3 import S3Settings, make_client
from tests.faults.s3_proxy import S3FaultProxy


@pytest.fixture()
def proxy(s3_server: embedded.S3Server) -> Iterator[S3FaultProxy]:
    with S3FaultProxy(s3_server.endpoint_url, seed=1) as running:
        yield running


def client_via(proxy: S3FaultProxy, attempts: int = 8) -> object:
    return make_client(
        S3Settings(endpoint_url=proxy.endpoint_url, max_attempts=attempts, read_timeout=5)
    )


def raw(proxy: S3FaultProxy, method: str, path: str) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    connection.request(method, path)
    return connection.getresponse()


def test_signed_put_get_list_head_delete_and_multipart_pass_through(
    proxy: S3FaultProxy, s3_client: object, bucket: str
) -> None:
    client = client_via(proxy)
    client.put_object(Bucket=bucket, Key="a/b.txt", Body=b"hello", ChecksumAlgorithm="CRC32")  # type: ignore[attr-defined]
    assert client.get_object(Bucket=bucket, Key="a/b.txt")["Body"].read() == b"hello"  # type: ignore[attr-defined]
    assert client.head_object(Bucket=bucket, Key="a/b.txt")["ContentLength"] == 5  # type: ignore[attr-defined]
    big = bytes(range(256)) * (6 * 4096 + 7)  # > 6 MiB: Expect: 100-continue on the PUT
    client.put_object(Bucket=bucket, Key="big", Body=big)  # type: ignore[attr-defined]
    upload = client.create_multipart_upload(Bucket=bucket, Key="multi")["UploadId"]  # type: ignore[attr-defined]
    parts = [
        {
            "PartNumber": number,
            "ETag": client.upload_part(  # type: ignore[attr-defined]
                Bucket=bucket, Key="multi", UploadId=upload, PartNumber=number, Body=chunk
            )["ETag"],
        }
        for number, chunk in ((1, big[: 5 * 1024 * 1024]), (2, big[5 * 1024 * 1024 :]))
    ]
    client.complete_multipart_upload(
        Bucket=bucket, Key="multi", UploadId=upload, MultipartUpload={"Parts": parts}
    )  # type: ignore[attr-defined]
    listed = client.list_objects_v2(Bucket=bucket, Prefix="a/")  # type: ignore[attr-defined]
    assert [item["Key"] for item in listed["Contents"]] == ["a/b.txt"]
    client.delete_object(Bucket=bucket, Key="a/b.txt")  # type: ignore[attr-defined]
    direct = s3_client.get_object(Bucket=bucket, Key="multi")["Body"].read()  # type: ignore[attr-defined]
    assert direct == big
    assert s3_client.get_object(Bucket=bucket, Key="big")["Body"].read() == big  # type: ignore[attr-defined]
    counts = proxy.counts()
    assert counts["requests"] == counts["forwarded"] > 0


def test_errors_are_s3_style_and_counted(proxy: S3FaultProxy, bucket: str) -> None:
    proxy.configure(error_rate=1.0)
    statuses = []
    for _ in range(20):
        response = raw(proxy, "GET", f"/{bucket}?list-type=2")
        body = response.read().decode()
        statuses.append(response.status)
        code = {500: "InternalError", 503: "SlowDown"}[response.status]
        assert f"<Code>{code}</Code>" in body
    counts = proxy.counts()
    assert counts["error_500"] == statuses.count(500) > 0
    assert counts["error_503"] == statuses.count(503) > 0
    assert counts["forwarded"] == 0
    with pytest.raises(ClientError) as raised:
        client_via(proxy, attempts=1).list_objects_v2(Bucket=bucket)  # type: ignore[attr-defined]
    assert raised.value.response["Error"]["Code"] in {"InternalError", "SlowDown"}


def test_resets_close_without_an_answer(proxy: S3FaultProxy, bucket: str) -> None:
    proxy.configure(reset_rate=1.0)
    for _ in range(10):
        with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
            raw(proxy, "GET", f"/{bucket}?list-type=2")
    counts = proxy.counts()
    assert counts["reset_before"] + counts["reset_after"] == 10
    assert counts["reset_before"] and counts["reset_after"]
    with pytest.raises(ConnectionClosedError):
        client_via(proxy, attempts=1).list_objects_v2(Bucket=bucket)  # type: ignore[attr-defined]


def test_a_reset_after_forwarding_still_stores_the_object(
    proxy: S3FaultProxy, s3_client: object, bucket: str
) -> None:
    proxy.configure(reset_rate=1.0)
    key = f"k-{uuid.uuid4().hex}"
    while not proxy.counts()["reset_after"]:
        connection = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
        connection.request("PUT", f"/{bucket}/{key}", body=b"stored anyway")
        with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
            connection.getresponse()
    assert s3_client.get_object(Bucket=bucket, Key=key)["Body"].read() == b"stored anyway"  # type: ignore[attr-defined]


def test_delays_are_counted_and_the_request_still_answered(
    proxy: S3FaultProxy, bucket: str
) -> None:
    proxy.configure(delay_rate=1.0, delay=0.05)
    for _ in range(3):
        assert raw(proxy, "GET", f"/{bucket}?list-type=2").status == 200
    assert proxy.counts()["delayed"] == 3


def test_refuse_is_an_outage_and_s3_keeps_its_data(proxy: S3FaultProxy, bucket: str) -> None:
    client = client_via(proxy, attempts=1)
    client.put_object(Bucket=bucket, Key="kept", Body=b"still here")  # type: ignore[attr-defined]
    kept_alive = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    kept_alive.request("GET", f"/{bucket}?list-type=2")
    assert b"<Key>kept</Key>" in kept_alive.getresponse().read()
    with proxy.outage():
        with pytest.raises(ConnectionRefusedError):
            raw(proxy, "GET", f"/{bucket}/kept")
        with pytest.raises(EndpointConnectionError):
            client_via(proxy, attempts=1).get_object(Bucket=bucket, Key="kept")  # type: ignore[attr-defined]
        kept_alive.request("GET", f"/{bucket}?list-type=2")
        with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
            kept_alive.getresponse()
    assert proxy.counts()["refused"] >= 1
    assert client.get_object(Bucket=bucket, Key="kept")["Body"].read() == b"still here"  # type: ignore[attr-defined]
    proxy.refuse_for(0.1).join(10)
    assert not proxy.refuse
    assert client.get_object(Bucket=bucket, Key="kept")["Body"].read() == b"still here"  # type: ignore[attr-defined]


def test_the_same_seed_gives_the_same_faults(s3_server: embedded.S3Server, bucket: str) -> None:
    def outcomes(seed: int) -> list[str]:
        seen = []
        with S3FaultProxy(s3_server.endpoint_url, seed=seed) as proxy:
            proxy.configure(error_rate=0.3, reset_rate=0.3)
            for _ in range(40):
                try:
                    seen.append(str(raw(proxy, "GET", f"/{bucket}?list-type=2").status))
                except (http.client.RemoteDisconnected, ConnectionResetError):
                    seen.append("reset")
        return seen

    first = outcomes(11)
    assert first == outcomes(11)
    assert first != outcomes(12)
    assert {"200", "500", "503", "reset"} <= set(first)


def test_boto3_retries_carry_a_client_through_heavy_faults(
    proxy: S3FaultProxy, s3_client: object, bucket: str
) -> None:
    proxy.configure(error_rate=0.3, reset_rate=0.1, delay_rate=0.1, delay=0.02)
    client = client_via(proxy, attempts=15)
    stored = 0
    while stored < 10 or not all(
        proxy.counts()[kind] for kind in ("error_500", "error_503", "reset_before", "reset_after")
    ):
        assert stored < 200, proxy.counts()
        client.put_object(Bucket=bucket, Key=f"o/{stored:03d}", Body=f"body {stored}".encode())  # type: ignore[attr-defined]
        stored += 1
    listed = s3_client.list_objects_v2(Bucket=bucket, Prefix="o/")  # type: ignore[attr-defined]
    assert len(listed["Contents"]) == stored


def test_rates_are_validated(proxy: S3FaultProxy) -> None:
    with pytest.raises(ValueError):
        proxy.configure(error_rate=1.5)
    with pytest.raises(ValueError):
        proxy.configure(error_rate=0.6, reset_rate=0.6)
    with pytest.raises(ValueError):
        proxy.deny = "reads"


def test_deny_answers_access_denied_to_writes_or_to_everything(
    proxy: S3FaultProxy, s3_client: object, bucket: str
) -> None:
    client: Any = client_via(proxy, attempts=3)
    client.put_object(Bucket=bucket, Key="kept", Body=b"before")
    proxy.deny = "writes"
    with pytest.raises(ClientError) as raised:
        client.put_object(Bucket=bucket, Key="new", Body=b"refused")
    assert raised.value.response["Error"]["Code"] == "AccessDenied"
    assert client.get_object(Bucket=bucket, Key="kept")["Body"].read() == b"before"
    proxy.deny = "all"
    assert proxy.deny == "all"
    for call in (
        lambda: client.get_object(Bucket=bucket, Key="kept"),
        lambda: client.head_bucket(Bucket=bucket),
    ):
        with pytest.raises(ClientError) as raised:
            call()
        assert raised.value.response["Error"]["Code"] in {"AccessDenied", "403"}
    proxy.deny = None
    client.put_object(Bucket=bucket, Key="new", Body=b"after")
    assert s3_client.get_object(Bucket=bucket, Key="new")["Body"].read() == b"after"  # type: ignore[attr-defined]
    assert proxy.counts()["denied"] == 3  # not retried by boto3: a 403 is final


def test_faults_can_target_one_method_and_key_prefix(proxy: S3FaultProxy, bucket: str) -> None:
    client: Any = client_via(proxy, attempts=1)
    journal = "_chinook/journal/g/t/0.json"
    proxy.configure(error_rate=1.0, method="GET", path_contains="/_chinook/journal/")
    client.put_object(Bucket=bucket, Key=journal, Body=b"{}")
    client.put_object(Bucket=bucket, Key="data", Body=b"d")
    assert client.get_object(Bucket=bucket, Key="data")["Body"].read() == b"d"
    with pytest.raises(ClientError):
        client.get_object(Bucket=bucket, Key=journal)
    counts = proxy.counts()
    assert counts["forwarded"] == 3, counts  # both PUTs and the data GET pass untouched
    assert counts["error_500"] + counts["error_503"] == counts["requests"] - 3 > 0, counts
