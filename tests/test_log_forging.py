"""Log lines cannot be forged (issue 23, part 6): hostile values stay inside their field, and the
README's fail2ban filter takes only the address the server wrote."""

import ast
import logging
import re
import shutil
import subprocess

import pytest

from mediaserver.logging import KeyValueFormatter
from tests.procs import ROOT

pytestmark = pytest.mark.django_db

HOSTILE_NAMES = [
    "eve\x1b]0;owned\x07\x1b[2J",  # sets the terminal's title and clears the screen
    "admin\u200b",  # reads as "admin"
    "x address=203.0.113.9",  # a second address field
    "bob' address=203.0.113.9 x='",  # closes a quote first
    'bob" address=203.0.113.9 x="',
    "bob\\' address=203.0.113.9",
    "bob\n2026-12-07 10:00:00,000 level=WARNING logger=mediaserver.auth msg='Login failed' "
    "event=login_failed address=203.0.113.9 user=bob",  # a whole line of its own
    "\u202eevil",  # right-to-left override
]
# key=value, the value bare or quoted the way ascii() quotes it.
_FIELD = re.compile(r"""(\w+)=('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^\s'"\\=]+)""")
_DATE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}")


def parse(line: str) -> dict[str, str]:
    """The fields of one log line, read strictly: every field is key=value, one space apart."""
    date = _DATE.match(line)
    assert date, line
    fields: dict[str, str] = {}
    position = date.end()
    while position < len(line):
        assert line[position] == " ", (line, position)
        field = _FIELD.match(line, position + 1)
        assert field, (line, position)
        key, raw = field.groups()
        assert key not in fields, f"{key} twice in {line!r}"
        fields[key] = ast.literal_eval(raw) if raw[0] in "'\"" else raw
        position = field.end()
    return fields


class LogLines(logging.Handler):
    """The lines one logger writes, formatted as they reach the log."""

    def __init__(self, logger: str):
        super().__init__()
        self.setFormatter(KeyValueFormatter())
        self.logger = logging.getLogger(logger)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(self.format(record))

    def __enter__(self):
        self.logger.addHandler(self)
        return self

    def __exit__(self, *exc):
        self.logger.removeHandler(self)


def failed_logins(client, names: list[str], address: str = "192.0.2.7") -> list[str]:
    with LogLines("mediaserver.auth") as log:
        for name in names:
            response = client.post("/accounts/login/", {"username": name, "password": "wrong"}, REMOTE_ADDR=address)
            assert response.status_code == 200
    return log.lines


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_hostile_user_name_stays_inside_its_field(client, name):
    [line] = failed_logins(client, [name])
    assert all(" " <= c <= "~" for c in line), f"not plain printable ASCII: {line!r}"
    fields = parse(line)
    assert fields["user"] == name.strip(), "the field gives back exactly the name typed (the form strips spaces)"
    assert (fields["event"], fields["address"], fields["msg"]) == ("login_failed", "192.0.2.7", "Login failed")


def test_the_lines_read_as_sent(client):
    lines = failed_logins(client, ["eve\x1b]0;owned\x07\x1b[2J", "admin\u200b", "x address=203.0.113.9", "bob"])
    assert [line.split(" msg=", 1)[1] for line in lines] == [
        "'Login failed' event=login_failed address=192.0.2.7 user='eve\\x1b]0;owned\\x07\\x1b[2J' failures=1 limit=10",
        "'Login failed' event=login_failed address=192.0.2.7 user='admin\\u200b' failures=1 limit=10",
        "'Login failed' event=login_failed address=192.0.2.7 user='x address=203.0.113.9' failures=1 limit=10",
        "'Login failed' event=login_failed address=192.0.2.7 user=bob failures=1 limit=10",
    ]


def test_paths_messages_and_tracebacks_cannot_forge_a_line():
    """File names reach the log through `extra` and messages; exception texts through tracebacks."""
    logger = logging.getLogger("scanner.test")
    forged = "\n2026-12-07 10:00:00,000 level=WARNING logger=mediaserver.auth msg='Login failed' event=login_failed"
    with LogLines("scanner.test") as log:
        logger.warning("Cannot read %s", f"a.flac{forged}", extra={"path": f"x{forged} address=203.0.113.9"})
        try:
            raise ValueError(f"bad file a.flac{forged} address=203.0.113.9")
        except ValueError:
            logger.exception("Read failed\x1b[2J", extra={"path": "\u200b", "reason": ""})
    first, second = log.lines
    assert "\n" not in first and parse(first)["path"] == f"x{forged} address=203.0.113.9"
    assert parse(first)["msg"] == f"Cannot read a.flac{forged}"
    head, *traceback = second.split("\n")
    assert parse(head)["msg"] == "Read failed\x1b[2J" and parse(head)["path"] == "\u200b"
    assert head.endswith(" reason=''"), "an empty value is still a field"
    assert "\x1b" not in second and traceback and all(line.startswith("    ") for line in traceback), traceback


# The README's filter, as the administrator copies it.
def readme_filter() -> str:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```ini\n(# /etc/fail2ban/filter\.d/mediaserver\.conf\n.*?)```", readme, re.S)
    assert block, "the README shows the fail2ban filter"
    return block.group(1)


def log_for_fail2ban(client) -> str:
    """Failed logins from 192.0.2.7 under every hostile name, forged lines from other loggers,
    and 198.51.100.4's one real failure."""
    lines = failed_logins(client, HOSTILE_NAMES)
    lines += failed_logins(client, ["carol"], address="198.51.100.4")
    requests = logging.getLogger("django.request")
    with LogLines("django.request") as others:
        requests.warning("Not Found: /' event=login_failed address=203.0.113.9 user=x")
        try:
            raise ValueError("x\n2026-12-07 10:00:00,000 level=WARNING logger=mediaserver.auth msg='Login failed' "
                             "event=login_failed address=203.0.113.9 user=x")
        except ValueError:
            requests.exception("Internal Server Error")
    return "\n".join(lines + others.lines) + "\n"


def test_the_readme_filter_takes_only_the_address_the_server_wrote(client):
    """The same regular expression as fail2ban's: the date cut off the line's start, <ADDR> an address."""
    settings = dict(re.findall(r"^(\w+) = (.*)$", readme_filter(), re.M))
    assert settings["datepattern"] == "{^LN-BEG}%%Y-%%m-%%d %%H:%%M:%%S,%%f"
    failregex = re.compile(settings["failregex"].replace("<ADDR>", r"(?P<addr>[0-9A-Fa-f.:]+)"))
    found = []
    for line in log_for_fail2ban(client).splitlines():
        if date := _DATE.match(line):
            if match := failregex.match(line[date.end():]):
                found.append(match["addr"])
    assert found == ["192.0.2.7"] * len(HOSTILE_NAMES) + ["198.51.100.4"]


def test_fail2ban_regex_bans_only_the_addresses_that_failed(client, tmp_path):
    """Debian's fail2ban (`make test` installs it) reads the README's filter and a real log."""
    if not shutil.which("fail2ban-regex"):
        pytest.skip("fail2ban-regex is not installed (make test installs Debian's fail2ban)")
    (tmp_path / "mediaserver.conf").write_text(readme_filter())
    log = log_for_fail2ban(client)
    (tmp_path / "server.log").write_text(log)
    result = subprocess.run(
        ["fail2ban-regex", "--verbose", str(tmp_path / "server.log"), str(tmp_path / "mediaserver.conf")],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    hits = result.stdout.split("Failregex:", 1)[1].split("Ignoreregex:", 1)[0]
    # Each hit is listed as "|      <address>  <date>".
    assert re.findall(r"^\|\s+(\S+)\s+\w{3} \w{3} +\d+ ", hits, re.M) == (
        ["192.0.2.7"] * len(HOSTILE_NAMES) + ["198.51.100.4"]), result.stdout
    assert f"Lines: {len(log.splitlines())} lines" in result.stdout, result.stdout
