"""The raw consume limit as a whole process: librdkafka alone (`raw_consumer`, spawned), joining a
group and committing as the consumer service does, timed from spawn to exit, beside the service's
own whole-process figure (`consumer_process`); and the group join as the service sees it, from
the process's spawn to its first assignment (`group_join`)."""

import json
import subprocess
import sys
import time

from chinook_pipeline.bench.probes import SERVICE_TIMEOUT
from chinook_pipeline.bench.session import Session
from chinook_shared.errors import PipelineError


def raw_consume_process(bench: Session, topic: str, total: int, repeat: int) -> None:
    """librdkafka alone as a whole process (`raw_consumer`): spawn to exit, group join and
    the service's commits included; the consumer service's own librdkafka properties."""
    from chinook_consumer.librdkafka import librdkafka_properties
    from chinook_consumer.settings import ConsumerSettings
    from chinook_shared.s3 import S3Settings

    stack = bench.stack
    settings = ConsumerSettings(
        kafka=stack.kafka_settings(),
        s3=S3Settings(),
        bucket=stack.bucket,
        topic=topic,
        group_id=stack.name("raw-group", repeat),
    )
    log = stack.work / "logs" / f"raw-consumer-{repeat}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    argv = [
        sys.executable,
        "-m",
        "chinook_pipeline.bench.raw_consumer",
        json.dumps(
            {k: v for k, v in librdkafka_properties(settings).items() if k != "logger"}
        ),  # the Python logger stays here; librdkafka's own log goes to stderr
        topic,
        str(settings.flush_records),
    ]
    started, spawned_at = time.monotonic(), time.time()
    with log.open("wb") as output:
        done = subprocess.run(
            argv, env=stack.env, stdout=subprocess.PIPE, stderr=output, timeout=SERVICE_TIMEOUT
        )
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise PipelineError(f"raw consumer exited with code {done.returncode}: see {log}")
    result = json.loads(done.stdout)
    if result["messages"] != total:
        raise PipelineError(
            f"raw consumer read {result['messages']} of the {total} messages of {topic}"
        )
    bench.record(
        "raw_consume_process",
        total / wall,
        messages=total,
        wall_seconds=wall,
        join_seconds=result["join_seconds"],
    )
    join = result["assigned_at"] - spawned_at
    bench.record("group_join", join, subscribed_to_assigned_seconds=result["join_seconds"])
