from tests.databases import database_url, session_factory  # noqa: F401
