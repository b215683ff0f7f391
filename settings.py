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
DEFAULT_SECRET_KEY = "beamlabel-local"
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
AUTH_MODES = ("none", "accounts", "proxy")


def _default_home() -> Path:
    return Path.home() / ".beamlabel"


def usable_cores() -> int:
    """CPUs this process may run on (taskset and cpusets included), else all of them."""
    if hasattr(os, "sched_getaffinity"):  # not on macOS or Windows
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


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
    secret_key: str = DEFAULT_SECRET_KEY
    # Who a request is: "none" (the local app: everyone is the tagger, as admin),
    # "accounts" (login or API token), "proxy" (a reverse proxy's authenticated-user header).
    auth: str = "none"
    proxy_user_header: str = ""
    allowed_hosts: tuple[str, ...] = LOOPBACK_HOSTS  # Host header values answered
    tiled_hosts: tuple[str, ...] = LOOPBACK_HOSTS  # the only hosts a Tiled URI may name
    secure_cookies: bool = False  # session cookie only over HTTPS
    max_request_mb: float = 32.0
    max_job_memory_gb: float = 16.0  # a job estimated to need more is refused
    scan_workers: int = field(default_factory=usable_cores)  # processes reading headers

    def __post_init__(self) -> None:
        if self.auth not in AUTH_MODES:
            raise ValueError(f"BEAMLABEL_AUTH '{self.auth}' is not one of {', '.join(AUTH_MODES)}")
        if self.auth == "proxy" and not self.proxy_user_header:
            raise ValueError("BEAMLABEL_AUTH=proxy needs BEAMLABEL_PROXY_USER_HEADER: the header "
                             "in which the reverse proxy names the logged-in user")
        for name in ("allowed_hosts", "tiled_hosts"):
            hosts = getattr(self, name)
            if isinstance(hosts, str):
                hosts = hosts.split(",")
            object.__setattr__(self, name, tuple(h.strip().lower() for h in hosts if h.strip()))
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
    def max_job_bytes(self) -> float:
        return self.max_job_memory_gb * 2**30

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
    ("BEAMLABEL_CACHE_URL", "--cache-url", "thumbnail cache: filesystem://DIR (one SQLite file "
     "in DIR) or redis://...",
     "filesystem://$BEAMLABEL_HOME/cache"),
    ("BEAMLABEL_DATA_ROOTS", "--data-roots", f"the only directories data sets may be read from "
     f"('{os.pathsep}'-separated)", "your home directory and $BEAMLABEL_HOME"),
    ("BEAMLABEL_TAGGER", "--tagger", "name stored with every label event", "the OS user"),
    ("BEAMLABEL_SECRET_KEY", "--secret-key", "Flask secret key (set it on a shared server)",
     "a fixed local value; 'serve' refuses it"),
    ("BEAMLABEL_AUTH", "--auth", "who may do what: none (local app), accounts (login and API "
     "tokens), proxy (a reverse proxy's user header)", "none for run, accounts for serve"),
    ("BEAMLABEL_PROXY_USER_HEADER", "--proxy-user-header", "with --auth proxy: the header naming "
     "the user the proxy authenticated", "none"),
    ("BEAMLABEL_ALLOWED_HOSTS", "--allowed-hosts", "comma-separated host names the server answers "
     "to (a request naming another Host is refused)", ",".join(LOOPBACK_HOSTS)),
    ("BEAMLABEL_TILED_HOSTS", "--tiled-hosts", "comma-separated hosts Tiled data sets may be read "
     "from", ",".join(LOOPBACK_HOSTS)),
    ("BEAMLABEL_SECURE_COOKIES", "--secure-cookies", "1: send the login cookie only over HTTPS",
     "0 for run, 1 for serve"),
    ("BEAMLABEL_MAX_REQUEST_MB", "--max-request-mb", "largest request body accepted (MB)", "32"),
    ("BEAMLABEL_MAX_JOB_MEMORY_GB", "--max-job-memory-gb", "jobs estimated to need more memory "
     "are refused", "16"),
    ("BEAMLABEL_SCAN_WORKERS", "--scan-workers", "processes (at a lower priority) that read new "
     "files' headers and render their first thumbnails", "the number of cores"),
)
# Settings read from the environment as text, and how to turn that text into the value.
_TEXT_SETTINGS = ("home", "database_url", "broker_url", "cache_url", "tagger", "secret_key",
                  "auth", "proxy_user_header", "allowed_hosts", "tiled_hosts")
_NUMBER_SETTINGS = ("max_request_mb", "max_job_memory_gb")
_COUNT_SETTINGS = ("scan_workers",)


def load_settings(env: Mapping[str, str] | None = None, **overrides) -> Settings:
    """Build the settings from ``env`` (default: the process environment) and overrides.

    Overrides (from CLI flags) win over the environment; ``None`` overrides are ignored.
    """
    env = os.environ if env is None else env
    values: dict = {}
    for name in (*_TEXT_SETTINGS, *_NUMBER_SETTINGS, *_COUNT_SETTINGS, "secure_cookies",
                 "data_roots"):
        if env.get(ENV_PREFIX + name.upper()):
            values[name] = env[ENV_PREFIX + name.upper()]
    values.update({name: value for name, value in overrides.items() if value is not None})
    return Settings(**{name: _parsed(name, value) for name, value in values.items()})


def _parsed(name: str, value):
    """A setting given as text (a variable or flag) turned into its type."""
    if not isinstance(value, str):
        return value
    if name == "data_roots":
        return _split_paths(value)
    if name == "secure_cookies":
        if value.strip().lower() not in ("0", "1", "true", "false", "yes", "no"):
            raise ValueError(f"BEAMLABEL_SECURE_COOKIES '{value}' is not 1 or 0")
        return value.strip().lower() in ("1", "true", "yes")
    if name in _COUNT_SETTINGS:
        if not value.strip().isdigit() or int(value) < 1:
            raise ValueError(f"BEAMLABEL_{name.upper()} '{value}' is not a whole number of 1 "
                             "or more")
        return int(value)
    if name in _NUMBER_SETTINGS:
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        if not number > 0 or number == float("inf"):
            raise ValueError(f"BEAMLABEL_{name.upper()} '{value}' is not a positive number")
        return number
    return value


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
        ENV_PREFIX + "AUTH": settings.auth,
        ENV_PREFIX + "PROXY_USER_HEADER": settings.proxy_user_header,
        ENV_PREFIX + "ALLOWED_HOSTS": ",".join(settings.allowed_hosts),
        ENV_PREFIX + "TILED_HOSTS": ",".join(settings.tiled_hosts),
        ENV_PREFIX + "SECURE_COOKIES": "1" if settings.secure_cookies else "0",
        ENV_PREFIX + "MAX_REQUEST_MB": repr(settings.max_request_mb),
        ENV_PREFIX + "MAX_JOB_MEMORY_GB": repr(settings.max_job_memory_gb),
        ENV_PREFIX + "SCAN_WORKERS": str(settings.scan_workers),
    }
