#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mediaserver.settings")
    from mediaserver.private_files import UMASK

    os.umask(UMASK)  # what commands create (the database, static files) is the server user's alone
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
