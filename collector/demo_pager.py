"""The demo pager: what ``wardwatch demo`` runs in place of the hospital's SMS gateway, WeCom and DingTalk robots
and webhook receivers. A loopback HTTP server (a thread of the demo) answers each channel the way the real service
does, so the outbox counts the page as delivered, and prints one line per page: when, page or progress update,
severity, incident number, who (named from the roster by the address the channel used), through which method, and
the title. ``logs/pages.log`` gets the same lines, each page's acknowledge link under it.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, replace
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from alerting.notify.messages import EN, ZH
from alerting.notify.model import contacts_of
from alerting.roster_config import POSITION_LABELS, SmsContact
from alerting.rosters import load_roster
from alerting.yaml_lines import ConfigError

LOOPBACK = "127.0.0.1"

_SUBJECT = re.compile(r"【(?P<severity>P\d) (?P<kind>[^】]+)】(?P<number>\S+) (?P<title>.*)")
_LINK = re.compile(r"https?://[^\s()\[\]<>\"]+/links/[A-Za-z0-9_.=-]+")
_MENTION = re.compile(r"<@([^>]+)>")


def address_book(roster_path: Path) -> dict[tuple[str, str], str]:
    """(contact kind, address) → "name (id)" for everyone the roster can page, duty phones included."""
    try:
        roster = load_roster(roster_path)
    except (ConfigError, OSError):
        return {}  # the collector says what is wrong with it; the pager then shows addresses
    book: dict[tuple[str, str], str] = {}
    for person in roster.people.values():
        for c in contacts_of(person.contacts):
            book.setdefault((c.kind, c.address), f"{person.name} ({person.id})")
    for name, pos in roster.config.positions.items():
        if pos.duty_phone:
            (phone,) = contacts_of([SmsContact(kind="sms", phone=pos.duty_phone)])
            book.setdefault(("sms", phone.address), f"{pos.name or POSITION_LABELS[name]} · 值班电话")
    return book


@dataclass(frozen=True)
class Page:
    method: str
    who: str
    kind: str = "?"
    severity: str = "?"
    number: str = "?"
    title: str = ""
    ack_url: str | None = None

    def line(self, at: datetime) -> str:
        kind = {"progress": "update"}.get(self.kind, self.kind)  # a stakeholder's progress update
        return (
            f"[pager {at:%H:%M:%S}] {kind:<6} {self.severity} {self.number}  "
            f"{self.who} by {self.method}: {self.title}"
        )


_KINDS = {word: kind for words in (ZH, EN) for kind, word in words.kinds.items()}  # 告警 → page, ...


def read_page(path: str, body: dict[str, Any], book: dict[tuple[str, str], str]) -> Page:
    """What a channel posted to the pager, as one page. Raises KeyError/TypeError/ValueError on other bodies."""
    method = path.strip("/")
    if method == "webhook":
        inc, person = body["incident"], body["person"]
        return Page(
            method, f"{person['name']} ({person['id']})", body["kind"], inc["severity"], inc["number"],
            inc["title"], body.get("links", {}).get("acknowledge"),
        )  # fmt: skip
    if method == "sms":
        address, text = body["phone"], body["text"]
    elif method == "wecom":
        if body["msgtype"] == "text":
            address, text = body["text"]["mentioned_list"][0], body["text"]["content"]
        else:
            text = body["markdown"]["content"]
            found = _MENTION.search(text)
            address = found[1] if found else "?"
    elif method == "dingtalk":
        address, text = body["at"]["atMobiles"][0], body["markdown"]["text"]
    else:
        raise ValueError(f"no channel posts to /{method}")
    page = Page(method, book.get((method, address), address))
    subject = _SUBJECT.search(text.lstrip("# "))
    if subject:
        word, _, event = subject["kind"].partition(" ")  # an update names its event: 进展 已解决
        kind = _KINDS.get(word, word)
        page = replace(page, kind=kind, severity=subject["severity"], number=subject["number"])
        page = replace(page, title=(f"[{event}] " if event else "") + subject["title"].strip())
    link = _LINK.search(text)
    return replace(page, ack_url=link[0] if link else None)


class Pager:
    """A loopback HTTP receiver answering like the SMS gateway, the robots and a webhook receiver."""

    def __init__(self, port: int, log_path: Path, book: dict[tuple[str, str], str], out: TextIO) -> None:
        self.log_path, self.book, self.out = log_path, book, out
        self.pages = 0
        self._held: list[str] | None = []
        self._lock = threading.Lock()
        pager = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                path = urlsplit(self.path).path
                length = min(int(self.headers.get("Content-Length") or 0), 1 << 20)
                try:
                    page = read_page(path, json.loads(self.rfile.read(length)), pager.book)
                except (KeyError, IndexError, TypeError, ValueError) as err:
                    self._answer(400, {"error": f"not a page: {err!r}"})
                    return
                pager.record(page)
                robot = path.strip("/") in ("wecom", "dingtalk")
                self._answer(200, {"errcode": 0, "errmsg": "ok"} if robot else {"ok": True})

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((LOOPBACK, port), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, name="demo-pager", daemon=True)

    def record(self, page: Page) -> None:
        line = page.line(datetime.now())
        with self._lock:
            self.pages += 1
            if self._held is None:
                print(line, file=self.out, flush=True)
            else:
                self._held.append(line)
            with self.log_path.open("a", encoding="utf-8") as log:
                log.write(line + "\n" + (f"    acknowledge: {page.ack_url}\n" if page.ack_url else ""))

    def release(self) -> None:
        """Print the pages held so far (they came before the banner), then each page as it comes."""
        with self._lock:
            for line in self._held or ():
                print(line, file=self.out, flush=True)
            self._held = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)
