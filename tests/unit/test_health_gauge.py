"""`/healthz`'s answer as a gauge on `/metrics`, for the alert on it: 1 for 200 (ok, degraded),
0 for 503 (failing, stalled), read at each scrape."""

from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, Gauge

from chinook_pipeline.local.scrape import scrape
from chinook_shared import names
from chinook_shared.health import Health
from chinook_shared.http_server import HttpServer

NAME = names.CONSUMER_HEALTHY


@pytest.fixture()
def health() -> Health:
    return Health(stall_after=60.0)


@pytest.fixture()
def url(health: Health) -> Iterator[str]:
    registry = CollectorRegistry()
    Gauge("chinook_test_things", "Things", registry=registry).set(3)
    server = HttpServer("127.0.0.1", 0, health, registry, health_metric=NAME).start()
    try:
        yield f"http://127.0.0.1:{server.port}/metrics"
    finally:
        server.stop()


def test_the_gauge_follows_healthz_and_the_other_metrics_stay(health: Health, url: str) -> None:
    assert scrape(url) == {"chinook_test_things": 3.0, NAME: 1.0}
    health.degrade("s3", "retrying")
    assert scrape(url)[NAME] == 1.0, "degraded still answers 200"
    health.fail("s3", "access denied")
    assert scrape(url)[NAME] == 0.0
    health.recover("s3")
    assert scrape(url)[NAME] == 1.0


def test_a_stalled_loop_shows_at_the_next_scrape() -> None:
    health = Health(stall_after=0.0)  # every moment after the last beat is a stall
    server = HttpServer("127.0.0.1", 0, health, CollectorRegistry(), health_metric=NAME)
    server.start()
    try:
        assert scrape(f"http://127.0.0.1:{server.port}/metrics") == {NAME: 0.0}
    finally:
        server.stop()


def test_without_a_name_there_is_no_gauge(health: Health) -> None:
    server = HttpServer("127.0.0.1", 0, health, CollectorRegistry()).start()
    try:
        assert scrape(f"http://127.0.0.1:{server.port}/metrics") == {}
    finally:
        server.stop()
