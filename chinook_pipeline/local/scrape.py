"""Reads a service's /metrics endpoint into plain numbers and its /healthz into a status (used
by `dev`, `bench` and tests)."""

import json
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def scrape(url: str, timeout: float = 2.0) -> dict[str, float]:
    """{sample name: value summed over label sets}; empty when the endpoint is not answering."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            text = response.read().decode()
    except (urllib.error.URLError, OSError):
        return {}
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    return totals


def healthz(url: str, timeout: float = 2.0) -> tuple[str, list[str]]:
    """A service's /healthz as (status, reasons): `ok`, `degraded`, `failing` or `stalled` with
    what causes it; ("down", []) when the endpoint is not answering."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body = response.read()
    except urllib.error.HTTPError as error:  # 503: failing or stalled, with the same body
        body = error.read()
    except (urllib.error.URLError, OSError):
        return "down", []
    try:
        report = json.loads(body)
        return str(report["status"]), [str(reason) for reason in report.get("reasons", [])]
    except (ValueError, KeyError, TypeError):
        return "down", []
