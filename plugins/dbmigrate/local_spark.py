"""How the local compute profile starts Spark: quickly, on a machine of few cores.

A local run of a few hundred documents spent more of its time starting Spark than migrating. Three changes,
measured on the project's 2-core machine with the 400-document movie job (16.0 s → 6.6 s in all) and a
200,000-document one (45.1 s → 37.6 s for the JIT alone):

- `-XX:TieredStopAtLevel=1`: the JVM compiles with C1 only. A PySpark job's JVM mostly moves bytes between Python
  workers and the shuffle; C2's compiler threads, busy for most of a short job, took cores from the Python workers.
- A class-data-sharing archive (dynamic CDS, JDK 13+): the ~10,000 classes Spark loads at start are mapped from
  one file instead of being parsed and verified from ~250 jars on every run. The first run of a classpath writes
  it as it exits (`-XX:ArchiveClassesAtExit`, two seconds once); later runs map it (`-XX:SharedArchiveFile`). The
  JVM checks that an archive matches its own build and classpath and runs without it otherwise (`-Xshare:auto`,
  the default), so a stale archive costs its benefit, never a run.
- PySpark's Python from the installed package: spark-submit puts `$SPARK_HOME/python/lib/pyspark.zip` and py4j's
  zip first on the driver's and every Python worker's path, and Python compiles what it imports from a zip again
  in each process (1.1 s to import a worker, 0.4 s from the package). With pip's pyspark the zips are copies of
  the installed package itself, so the job runs with a Spark home that is the same home without them
  (`spark_home`): the same jars, scripts and configuration, linked.

EMR and Glue start their own JVMs and Pythons, tuned by AWS; nothing here reaches them.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import re
import shutil
import stat
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

JIT_OPTIONS = ("-XX:TieredStopAtLevel=1",)
# The archive's own messages (hundreds of "skipping class" lines when it is written) stay out of the task log.
QUIET_CDS = "-Xlog:cds=off,cds+dynamic=off"
STALE_WRITING_S = 3600
USER_ARCHIVE = re.compile(r"-XX:(SharedArchiveFile|ArchiveClassesAtExit)=")


@dataclass(frozen=True)
class JvmStart:
    """The class archive of one local spark-submit's JVM: the one it maps, or the one it writes as it exits."""

    archive: Path | None = None  # None: no archive (no private cache directory, or the environment names its own)
    writing: Path | None = None  # where this run's JVM dumps the archive (renamed to `archive` on success)

    @property
    def java_options(self) -> str:
        """The driver's Java options of this run."""
        if self.writing is not None:
            return f"{' '.join(JIT_OPTIONS)} -XX:ArchiveClassesAtExit={self.writing} {QUIET_CDS}"
        return self.mapping_options

    @property
    def mapping_options(self) -> str:
        """The Java options of a JVM that maps the archive (once it exists; until then the JVM starts without)."""
        if self.archive is None:
            return " ".join(JIT_OPTIONS)
        return f"{' '.join(JIT_OPTIONS)} -XX:SharedArchiveFile={self.archive} {QUIET_CDS}"

    def keep(self) -> None:
        """After a successful run: the archive it wrote becomes the one later runs map."""
        if self.writing is not None and self.archive is not None and self.writing.is_file():
            os.replace(self.writing, self.archive)

    def discard(self) -> None:
        if self.writing is not None:
            self.writing.unlink(missing_ok=True)


def cache_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """`$DBMIGRATE_JVM_CACHE`, else `$XDG_CACHE_HOME/dbmigrate/jvm` (`~/.cache/dbmigrate/jvm`)."""
    if environ.get("DBMIGRATE_JVM_CACHE"):
        return Path(environ["DBMIGRATE_JVM_CACHE"])
    return Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dbmigrate" / "jvm"


def private_dir(path: Path) -> bool:
    """Create `path` (mode 0700) if needed; whether it is a directory only this user owns and can write: the JVM
    maps an archive's classes as code and runs a Spark home's scripts, so nothing anyone else could have put
    there is ever used."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = path.lstat()
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077


def installed_package(name: str) -> Path | None:
    """Where an installed distribution's package of that name is, read from its metadata: nothing is imported
    (the MWAA layout's Airflow processes may not import pyspark, and the local profile's spark-submit needs none
    of it there)."""
    try:
        path = Path(str(importlib.metadata.distribution(name).locate_file(name)))
    except importlib.metadata.PackageNotFoundError:
        return None
    return path if (path / "__init__.py").is_file() else None


def installed_spark_home() -> Path | None:
    """The Spark home spark-submit uses: `$SPARK_HOME`, else pip's pyspark package (which is one); where
    `$SPARK_HOME` is one of `spark_home`'s, the home it links."""
    if os.environ.get("SPARK_HOME"):
        home = Path(os.environ["SPARK_HOME"])
        jars = home / "jars"
        return jars.resolve().parent if jars.is_symlink() and not (home / "python").exists() else home
    return installed_package("pyspark")


def spark_home(directory: Path | None = None) -> Path | None:
    """A Spark home like the installed one without `python/` (its pyspark and py4j zips), for PySpark to import
    the installed packages instead; None where those are not the zips' own copies (a separate Spark
    distribution) or no private cache directory can be had. Made once per installed home, atomically."""
    home = installed_spark_home()
    if home is None or home != installed_package("pyspark") or installed_package("py4j") is None:
        return None
    directory = directory or cache_dir()
    if not private_dir(directory):
        return None
    key = hashlib.sha256(str(home.resolve()).encode()).hexdigest()[:16]
    shadow = directory / f"spark-home-{key}"
    if shadow.is_dir():
        return shadow
    building = Path(tempfile.mkdtemp(prefix=f"{shadow.name}.", dir=directory))
    for entry in home.iterdir():
        if entry.name != "python":
            (building / entry.name).symlink_to(entry.resolve())
    try:
        building.rename(shadow)
    except OSError:  # another run made it first
        shutil.rmtree(building, ignore_errors=True)
    return shadow


def archive_key(home: Path, packages: tuple[str, ...] = ()) -> str:
    """What one archive serves: the Spark home (its jars are the classpath), the `java` spark-submit runs
    (`$JAVA_HOME/bin/java`, else the path's: a new JDK build cannot map an old archive) and the job's packages."""
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java") or ""
    java_id = ""
    if java and Path(java).exists():
        real = Path(java).resolve()
        java_id = f"{real}:{real.stat().st_mtime_ns}"
    text = "\0".join([str(home), sys.prefix, java_id, *sorted(packages)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def jvm_start(home: Path | None, packages: tuple[str, ...] = (), directory: Path | None = None,
              environ: Mapping[str, str] = os.environ) -> JvmStart:
    """The class archive of a local job's driver: this Spark home's and packages', mapped when there is one,
    written by this run when there is none; none without a Spark home or a private cache directory, or where
    `SPARK_SUBMIT_OPTS` (the user's own JVM options, which spark-submit gives every JVM it starts) names one."""
    if home is None or USER_ARCHIVE.search(environ.get("SPARK_SUBMIT_OPTS", "")):
        return JvmStart()
    directory = directory or cache_dir()
    if not private_dir(directory):
        return JvmStart()
    for stale in directory.glob("*.writing"):  # what a run killed while the JVM wrote its archive left
        try:
            if time.time() - stale.stat().st_mtime > STALE_WRITING_S:
                stale.unlink(missing_ok=True)
        except FileNotFoundError:  # a concurrent run's, gone since the glob
            continue
    archive = directory / f"spark-{archive_key(home, packages)}.jsa"
    if archive.is_file():
        return JvmStart(archive)
    return JvmStart(archive, directory / f"{archive.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.writing")
