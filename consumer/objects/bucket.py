"""At start, before the objects sink is used: wait until the bucket answers."""

import logging
import threading
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chinook_consumer.settings import ConsumerSettings, retry_policy
from chinook_shared.errors import PipelineError
from chinook_shared.health import Health
from chinook_shared.retry import Failures, StartWindow, report
from chinook_shared.s3 import bucket_problem

log = logging.getLogger(__name__)


def wait_for_bucket(
    client: Any, settings: ConsumerSettings, health: Health, stop: threading.Event
) -> bool:
    """Wait until the bucket answers; False when stopped first.

    A missing bucket, denied access or missing credentials end the start at once with the fix
    (nothing is held yet, and waiting cannot help); an unreachable or failing S3 (connection
    errors, 5xx, throttling) is retried with `degraded` health for up to `start_timeout`
    seconds, then ends the start too: an S3 that never answered is most often a wrong endpoint.
    Give `client` few attempts of its own, so that the window is kept to within one request.
    """
    failures = Failures(retry_policy(settings))
    endpoint = client.meta.endpoint_url
    what = f"checking bucket {settings.bucket} at {endpoint}"
    window = StartWindow(
        settings.start_timeout,
        f"check that S3 is up and reachable at {endpoint}, or fix --s3-endpoint-url / "
        "AWS_ENDPOINT_URL_S3",
    )
    while True:
        health.beat()
        try:
            client.head_bucket(Bucket=settings.bucket)
        except (ClientError, BotoCoreError) as error:
            problem = bucket_problem(client, settings.bucket, error)
            if problem:
                raise PipelineError(problem) from None
            delay = failures.failed(error)
            window.check(what, failures)
            delay = window.cut(delay)
            report(health, "s3", what, failures, log, delay)
            if stop.wait(delay):
                return False
            continue
        if failures.attempts:
            health.recover("s3")
            log.info("bucket %s reachable after %d failures", settings.bucket, failures.attempts)
        return True
