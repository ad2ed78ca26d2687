"""`dev`'s status lines read each service's /healthz: every status, and a service not answering."""

from chinook_pipeline.local.scrape import healthz
from chinook_shared.health import Health
from chinook_shared.http_server import HttpServer


def test_healthz_reads_every_status_and_a_silent_service() -> None:
    health = Health()
    server = HttpServer("127.0.0.1", 0, health).start()
    url = f"http://127.0.0.1:{server.port}/healthz"
    try:
        assert healthz(url) == ("ok", [])
        health.degrade("tables", "opening Iceberg table chinook.customers failed")
        assert healthz(url) == (
            "degraded",
            ["tables: opening Iceberg table chinook.customers failed"],
        )
        health.fail("tables", "table metadata gone")
        assert healthz(url) == ("failing", ["tables: failing: table metadata gone"])
    finally:
        server.stop()
    assert healthz(url, timeout=0.5) == ("down", [])
