"""``beamlabel user ...``: the accounts of a shared server from the command line, so that
the first admin can be made before anyone can log in.

    beamlabel user add NAME --role admin     (asks for the password; or one line on stdin)
    beamlabel user set NAME [--role R] [--password] [--disable | --enable]
    beamlabel user list
"""
from __future__ import annotations

import argparse
import getpass
import sys
from typing import Optional

from auth.accounts import create_user, update_user
from db.session import open_database, transaction
from db.users import ROLES, list_users
from errors import DomainError
from settings import load_settings

ACTOR = "command line"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="beamlabel user", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", help="data home (BEAMLABEL_HOME)")
    parser.add_argument("--database-url", help="database (BEAMLABEL_DATABASE_URL)")
    commands = parser.add_subparsers(dest="action", required=True)
    add = commands.add_parser("add", help="a new user")
    add.add_argument("name")
    add.add_argument("--role", choices=ROLES, default="labeler")
    add.add_argument("--no-password", action="store_true",
                     help="no password: the user logs in only through a reverse proxy")
    change = commands.add_parser("set", help="change a user's role, password or access")
    change.add_argument("name")
    change.add_argument("--role", choices=ROLES)
    change.add_argument("--password", action="store_true", help="set a new password")
    access = change.add_mutually_exclusive_group()
    access.add_argument("--disable", dest="disabled", action="store_true", default=None)
    access.add_argument("--enable", dest="disabled", action="store_false")
    commands.add_parser("list", help="every user with their role")
    return parser


def read_password(name: str) -> str:
    """Asked twice on a terminal; otherwise the first line of stdin (for scripts)."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(f"password for {name}: ")
    if getpass.getpass("again: ") != first:
        raise DomainError("the two passwords differ", "password")
    return first


def main(argv: Optional[list[str]] = None) -> int:
    args = _parser().parse_args(argv)
    settings = load_settings(home=args.home, database_url=args.database_url)
    engine, session_factory = open_database(settings)
    try:
        with transaction(session_factory) as session:
            if args.action == "list":
                for user in list_users(session):
                    state = " (disabled)" if user.disabled else ""
                    print(f"{user.name}\t{user.role}{state}")
            elif args.action == "add":
                password = None if args.no_password else read_password(args.name)
                user = create_user(session, ACTOR, args.name, args.role, password)
                print(f"user '{user.name}' added as {user.role}")
            else:
                password = read_password(args.name) if args.password else None
                update_user(session, ACTOR, args.name, args.role, password, args.disabled)
                print(f"user '{args.name}' changed")
    except DomainError as error:
        print(f"beamlabel user: {error}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    return 0
