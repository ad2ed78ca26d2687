"""Apache Kafka's jars, fetched once by Maven from the pinned pom beside this file.

They land in a cache outside the work tree (`$CHINOOK_CACHE_DIR`, else
`$XDG_CACHE_HOME/chinook-pipeline`, else `~/.cache/chinook-pipeline`), one folder per Kafka
version, so every later run, clone and test worker reuses them. A file lock keeps two processes
(two pytest workers) from fetching at once; a fetch lands in a temporary folder that is renamed
into place whole, so a broken fetch never leaves half a classpath behind.
"""

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from chinook_shared.errors import PipelineError

POM = Path(__file__).with_name("pom.xml")
LOG_CONFIG = Path(__file__).with_name("log4j2.properties")
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"


def kafka_version() -> str:
    match = re.search(r"<kafka.version>([^<]+)</kafka.version>", POM.read_text())
    if match is None:
        raise PipelineError(f"{POM} names no <kafka.version>")
    return match.group(1)


def cache_dir() -> Path:
    explicit = os.environ.get("CHINOOK_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "chinook-pipeline"


def ensure_jars() -> Path:
    """The folder of Kafka's jars, fetched with Maven first where it is missing."""
    return fetch_jars(POM, f"kafka-{kafka_version()}", "kafka_2.13-*.jar")


def fetch_jars(pom: Path, name: str, expected: str = "*.jar") -> Path:
    """The runtime jars of `pom`'s dependencies in `<cache>/<name>-<pom digest>/libs`, fetched
    with Maven first where missing (a changed pin fetches anew instead of running stale jars); a
    fetch that yields no file matching `expected` is a failure."""
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()[:12]
    libs = cache_dir() / f"{name}-{digest}" / "libs"
    if libs.is_dir():
        return libs
    libs.parent.mkdir(parents=True, exist_ok=True)
    with open(libs.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not libs.is_dir():
            _fetch(pom, name, libs, expected)
    return libs


def _fetch(pom: Path, name: str, libs: Path, expected: str) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise PipelineError(
            f"Maven (mvn) is not on PATH: {name} is fetched with it; "
            "install Maven and Java 17+ (`make tools` does, on Debian)"
        )
    staging = Path(tempfile.mkdtemp(prefix="libs-", dir=libs.parent))
    command = [
        mvn,
        "-q",
        "-B",
        "-f",
        str(pom),
        f"{DEPENDENCY_PLUGIN}:copy-dependencies",
        f"-DoutputDirectory={staging}",
        "-DincludeScope=runtime",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not any(staging.glob(expected)):
        shutil.rmtree(staging, ignore_errors=True)
        output = (result.stdout + result.stderr).strip().splitlines()
        raise PipelineError(
            f"fetching {name} with Maven failed "
            f"({output[-1] if output else f'exit {result.returncode}'}): "
            "check that Maven Central is reachable and ~/.m2 is writable"
        )
    staging.rename(libs)


def java() -> str:
    """The `java` to run the broker with: $JAVA_HOME's, else the one on PATH (17 or newer)."""
    home = os.environ.get("JAVA_HOME")
    candidate = Path(home) / "bin" / "java" if home else None
    found = str(candidate) if candidate and candidate.exists() else shutil.which("java")
    if found is None:
        raise PipelineError(
            "Java is not installed: the embedded Kafka broker needs Java 17 or newer "
            "(`make tools` installs it on Debian)"
        )
    return found


if __name__ == "__main__":
    print(ensure_jars())
