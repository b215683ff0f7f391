"""The one settings object of beamlabel, read once from ``BEAMLABEL_*`` variables.

Every other module receives a :class:`Settings` (the web app keeps it on the Flask
app, the worker builds it at start) instead of reading the environment itself.
"""
from __future__ import annotations

import getpass
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping

ENV_PREFIX = "BEAMLABEL_"


def _default_home() -> Path:
    return Path.home() / ".beamlabel"


def _split_paths(value: str) -> tuple[Path, ...]:
    return tuple(Path(p).expanduser().resolve() for p in value.split(os.pathsep) if p.strip())


@dataclass(frozen=True)
class Settings:
    """Where beamlabel keeps its state and which services it talks to."""

    home: Path = field(default_factory=_default_home)
    database_url: str = ""
    broker_url: str = ""
    cache_url: str = ""
    data_roots: tuple[Path, ...] = ()
    tagger: str = field(default_factory=getpass.getuser)
    secret_key: str = "beamlabel-local"

    def __post_init__(self) -> None:
        home = Path(self.home).expanduser().resolve()
        object.__setattr__(self, "home", home)
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{home / 'beamlabel.db'}")
        if not self.broker_url:
            object.__setattr__(self, "broker_url", "filesystem://")
        if not self.cache_url:
            object.__setattr__(self, "cache_url", f"filesystem://{home / 'cache'}")
        if not self.data_roots:
            object.__setattr__(self, "data_roots", (Path.home().resolve(), home))
        else:
            roots = tuple(Path(r).expanduser().resolve() for r in self.data_roots)
            object.__setattr__(self, "data_roots", roots)

    @property
    def file_roots(self) -> tuple[Path, ...]:
        """The folders a file a request names (a weights file) may be read from: the data
        roots and the data home."""
        return self.data_roots + ((self.home,) if self.home not in self.data_roots else ())

    @property
    def demo_dir(self) -> Path:
        return self.home / "demo"

    @property
    def artifacts_dir(self) -> Path:
        return self.home / "artifacts"

    @property
    def broker_dir(self) -> Path:
        return self.home / "broker"

    @property
    def uses_local_broker(self) -> bool:
        return self.broker_url.startswith("filesystem://")

    def with_data_roots(self, *extra: Path) -> "Settings":
        """A copy that may also read from ``extra`` (e.g. ``beamlabel --data DIR``)."""
        roots = list(self.data_roots)
        for path in extra:
            resolved = Path(path).expanduser().resolve()
            if resolved not in roots:
                roots.append(resolved)
        return replace(self, data_roots=tuple(roots))

    def ensure_dirs(self) -> None:
        for path in (self.home, self.artifacts_dir, self.broker_dir):
            path.mkdir(parents=True, exist_ok=True)


SETTINGS_TABLE = (
    # (environment variable, CLI flag, meaning, default) -- used by --help and the README
    ("BEAMLABEL_HOME", "--home", "data home: database, artifacts, thumbnail cache, local broker",
     "~/.beamlabel"),
    ("BEAMLABEL_DATABASE_URL", "--database-url", "SQLAlchemy URL of the database",
     "sqlite:///$BEAMLABEL_HOME/beamlabel.db"),
    ("BEAMLABEL_BROKER_URL", "--broker-url", "Celery broker (redis://... on a shared server)",
     "filesystem:// under $BEAMLABEL_HOME/broker"),
    ("BEAMLABEL_CACHE_URL", "--cache-url", "thumbnail cache: filesystem://DIR or redis://...",
     "filesystem://$BEAMLABEL_HOME/cache"),
    ("BEAMLABEL_DATA_ROOTS", "--data-roots", f"the only directories data sets may be read from "
     f"('{os.pathsep}'-separated)", "your home directory and $BEAMLABEL_HOME"),
    ("BEAMLABEL_TAGGER", "--tagger", "name stored with every label event", "the OS user"),
    ("BEAMLABEL_SECRET_KEY", "--secret-key", "Flask secret key (set it on a shared server)",
     "beamlabel-local"),
)


def load_settings(env: Mapping[str, str] | None = None, **overrides) -> Settings:
    """Build the settings from ``env`` (default: the process environment) and overrides.

    Overrides (from CLI flags) win over the environment; ``None`` overrides are ignored.
    """
    env = os.environ if env is None else env
    values: dict = {}
    for name in ("home", "database_url", "broker_url", "cache_url", "tagger", "secret_key"):
        if env.get(ENV_PREFIX + name.upper()):
            values[name] = env[ENV_PREFIX + name.upper()]
    if env.get(ENV_PREFIX + "DATA_ROOTS"):
        values["data_roots"] = _split_paths(env[ENV_PREFIX + "DATA_ROOTS"])
    for name, value in overrides.items():
        if value is None:
            continue
        if name == "data_roots" and isinstance(value, str):
            value = _split_paths(value)
        values[name] = value
    return Settings(**values)


def settings_environment(settings: Settings) -> dict[str, str]:
    """The ``BEAMLABEL_*`` variables that reproduce ``settings`` in a child process."""
    return {
        ENV_PREFIX + "HOME": str(settings.home),
        ENV_PREFIX + "DATABASE_URL": settings.database_url,
        ENV_PREFIX + "BROKER_URL": settings.broker_url,
        ENV_PREFIX + "CACHE_URL": settings.cache_url,
        ENV_PREFIX + "DATA_ROOTS": os.pathsep.join(str(root) for root in settings.data_roots),
        ENV_PREFIX + "TAGGER": settings.tagger,
        ENV_PREFIX + "SECRET_KEY": settings.secret_key,
    }
