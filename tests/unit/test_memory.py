"""The consumer's allocator set-up: Arrow on the C library's malloc, unless the user chose."""

import os
import subprocess
import sys

import pytest

POOL = (
    "from shared.memory import return_freed_memory; return_freed_memory(); "
    "import pyarrow; print(pyarrow.default_memory_pool().backend_name)"
)


@pytest.mark.parametrize(("chosen", "expected"), [(None, "system"), ("mimalloc", "mimalloc")])
def test_arrow_allocates_from_malloc_unless_the_environment_says_otherwise(
    chosen: str | None, expected: str
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if chosen:
        env["ARROW_DEFAULT_MEMORY_POOL"] = chosen
    answer = subprocess.run(
        [sys.executable, "-c", POOL], env=env, capture_output=True, text=True, check=True
    )
    assert answer.stdout.strip() == expected
