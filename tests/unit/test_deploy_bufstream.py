"""Static checks of bufstream.yaml against the compose services it names."""

from urllib.parse import urlsplit

from tests.deploy_files import (
    BUFSTREAM,
    compose_services,
    environment,
    healthcheck_test,
    load_yaml,
)


def test_bufstream_config_has_the_documented_v1beta1_keys() -> None:
    config = load_yaml(BUFSTREAM)
    assert config["version"] == "v1beta1"
    s3 = config["data"]["s3"]
    assert s3["uri"] == "s3://bufstream/"
    assert s3["region"]
    assert s3["endpoint"] == "http://minio:9000"
    assert s3["force_path_style"] is True
    minio = environment(compose_services()["minio"])
    assert s3["access_key_id"]["string"] == minio["MINIO_ROOT_USER"]
    assert s3["secret_access_key"]["string"] == minio["MINIO_ROOT_PASSWORD"]


def test_bufstream_metadata_is_the_postgres_service() -> None:
    dsn = urlsplit(load_yaml(BUFSTREAM)["metadata"]["postgres"]["string"])
    postgres = environment(compose_services()["postgres"])
    assert dsn.scheme in {"postgres", "postgresql"}
    assert (dsn.hostname, dsn.port or 5432) == ("postgres", 5432)
    assert dsn.username == postgres["POSTGRES_USER"]
    assert dsn.password == postgres["POSTGRES_PASSWORD"]
    assert dsn.path.lstrip("/") == postgres["POSTGRES_DB"]


def test_bufstream_advertises_its_compose_name() -> None:
    listeners = load_yaml(BUFSTREAM)["kafka"]["listeners"]
    advertised = {listener["advertise_address"] for listener in listeners}
    bootstrap = {
        environment(service)["CHINOOK_BOOTSTRAP_SERVERS"]
        for service in compose_services().values()
        if "CHINOOK_BOOTSTRAP_SERVERS" in environment(service)
    }
    assert bootstrap == {"bufstream:9092"}
    assert advertised == bootstrap


def test_bufstream_service_serves_this_config_with_its_bucket_ready() -> None:
    services = compose_services()
    bufstream = services["bufstream"]
    assert bufstream["image"].startswith("bufbuild/bufstream:")
    assert bufstream["command"] == ["serve", "--config", "/bufstream.yaml"]
    assert "./bufstream.yaml:/bufstream.yaml:ro" in bufstream["volumes"]
    assert int(environment(bufstream)["BUFSTREAM_AVAILABLE_MEMORY"]) == 1024**3
    assert "admin status --exit-code --url http://127.0.0.1:9089" in healthcheck_test(bufstream)
    bucket_job = " ".join(services["bufstream-bucket"]["command"])
    assert "mc mb --ignore-existing local/bufstream" in bucket_job
    assert set(bufstream["depends_on"]) == {"postgres", "bufstream-bucket"}
