"""The HTML report, parsed: one arrow per message from its sender to its receiver (never backwards, never
twice when both ends log it), success never in red, a device log people can read."""

from __future__ import annotations

import json
import re
from collections import Counter
from html.parser import HTMLParser

import pytest
from typer.testing import CliRunner

from rig.cli import app
from rig.events import MESSAGES, RECEIVED, SENT
from rig.scenarios.report import BAD_COLOR, LANES

RED = BAD_COLOR


class Page(HTMLParser):
    """The report's lanes (x of each header), message arrows, step dots and table cells."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.lanes: dict[str, int] = {}
        self.arrows: list[dict] = []
        self.dots: list[dict] = []
        self.cells: list[str] = []
        self.svg_colors: list[tuple[str, str]] = []       # (element, colour) inside the SVG
        self._lane_x = self._cell = self._arrow = None
        self._in_svg = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "svg":
            self._in_svg = True
        if self._in_svg:
            for key in ("fill", "stroke"):
                if key in a:
                    self.svg_colors.append((tag, a[key]))
        if tag == "text" and a.get("class") == "lane":
            self._lane_x = int(a["x"])
        elif tag == "line" and a.get("class") == "message":
            self._arrow = {**a, "label": ""}
            self.arrows.append(self._arrow)
        elif tag == "circle" and a.get("class") == "step":
            self.dots.append(a)
        elif tag == "td":
            self._cell = ""

    def handle_endtag(self, tag):
        if tag == "svg":
            self._in_svg = False
        if tag == "td" and self._cell is not None:
            self.cells.append(self._cell)
            self._cell = None
        if tag == "line":
            self._arrow = None

    def handle_data(self, data):
        if self._lane_x is not None:
            self.lanes[data] = self._lane_x
            self._lane_x = None
        if self._arrow is not None:
            self._arrow["label"] += data
        if self._cell is not None:
            self._cell += data


def _run(tmp_path_factory, policy: str, delay: str):
    report = tmp_path_factory.mktemp(policy) / "run.html"
    result = CliRunner().invoke(app, ["scenario", "secmp0037", "--policy", policy, "--ppmid-delay", delay,
                                      "--json", "--report", str(report)])
    assert result.exit_code == 0, result.output
    text = report.read_text()
    return json.loads(result.stdout), text, Page(text)


@pytest.fixture(scope="module")
def paired(tmp_path_factory):
    return _run(tmp_path_factory, "secmp0037", "60m1s")


@pytest.fixture(scope="module")
def refused(tmp_path_factory):
    return _run(tmp_path_factory, "gbcs", "60m1s")


def _lane(name: str | None, identities: dict[str, str]) -> str | None:
    if name in LANES:
        return name
    for lane, eui in identities.items():
        if name and eui.upper() == name.upper():
            return "CH" if lane in ("CHF", "GPF") else lane
    return None


def expected_messages(out: dict) -> Counter:
    """From the JSON steps alone: (message, sender lane, receiver lane) -> how many such messages; a message
    logged by both ends counts once (the n-th sent end goes with the n-th received end)."""
    ends: dict[tuple, Counter] = {}
    for step in out["steps"]:
        if step["name"] not in MESSAGES or step["sender"] is None or step["receiver"] is None:
            continue
        end = MESSAGES[step["name"]][1]
        if end == RECEIVED and step["result"] != "ok":
            continue                                       # nothing arrived: not a message
        src, dst = _lane(step["sender"], out["identities"]), _lane(step["receiver"], out["identities"])
        key = (step["detail"].get("hex") or step["message"], step["message"], src, dst)
        ends.setdefault(key, Counter())[end] += 1
    total: Counter = Counter()
    for (_key, label, src, dst), count in ends.items():
        total[(label, src, dst)] += max(count[SENT], count[RECEIVED])
    return total


def drawn_messages(page: Page) -> Counter:
    return Counter((re.sub(r" → .*", "", a["label"]), a["data-from"], a["data-to"]) for a in page.arrows)


def test_each_arrow_starts_at_its_senders_lane_and_ends_at_its_receivers(paired, refused):
    for _out, _text, page in (paired, refused):
        assert set(page.lanes) == set(LANES)
        assert page.arrows
        for arrow in page.arrows:
            assert int(arrow["x1"]) == page.lanes[arrow["data-from"]], arrow
            assert int(arrow["x2"]) == page.lanes[arrow["data-to"]], arrow
            assert arrow["data-from"] != arrow["data-to"]


def test_one_arrow_per_message_even_when_both_ends_log_it(paired):
    out, _text, page = paired
    assert drawn_messages(page) == expected_messages(out)
    both_ends = sum(1 for s in out["steps"] if s["name"] in MESSAGES)
    assert len(page.arrows) < both_ends                   # the ends that met are drawn once
    drawn = drawn_messages(page)
    # the pairing, as it happens: the HHT identity's commands go to the CH, the answers come back to it
    assert drawn[("CCS01 command", "PPMID/A", "CH")] == 2          # over inter-PAN, then in the tunnel
    assert drawn[("CCS01 response", "CH", "PPMID/A")] == 2
    assert drawn[("CS03A1 command", "PPMID/A", "CH")] == 2          # the ESME's, then the GSME's (gas side)
    assert drawn[("CS03A1 command", "CH", "ESME")] == 1            # the CH relays it to the ESME
    assert drawn[("CS03A1 response", "CH", "PPMID/A")] == 2
    assert drawn[("CS03C command", "PPMID/A", "CH")] == 1 and drawn[("CS03C response", "CH", "PPMID/A")] == 1
    assert drawn[("join", "ESME", "CH")] == 1 and drawn[("join", "PPMID/A", "CH")] == 1
    assert drawn[("join", "PPMID/B", "CH")] == 1
    assert drawn[("ESME report", "ESME", "PPMID/B")] == 2
    assert drawn[("leave", "PPMID/A", "CH")] == 1
    # nothing points backwards: no command from the CH to the PPMID, no response from the PPMID to the CH
    assert not [m for m in drawn if m[0].endswith("command") and m[1:] == ("CH", "PPMID/A")]
    assert not [m for m in drawn if re.fullmatch(r"C?CS\w+ response", m[0]) and m[1] not in ("CH", "GSME")]
    assert drawn[("read response", "ESME", "PPMID/B")] == 2                # at pairing and at the end
    # the gas side: the CHF hands the held join to the GSME at its wake, the GSME PUTs the response back,
    # the GSME PUTs its reading to the GPF's mirror, and the GPF answers B's gas read from it
    assert drawn[("CS03A1 command", "CH", "GSME")] == 1 and drawn[("CS03A1 response", "GSME", "CH")] == 1
    assert drawn[("mirror update (PUT)", "GSME", "GPF")] == 1
    assert drawn[("gas read response", "GPF", "PPMID/B")] == 1


def test_steps_that_are_not_messages_are_dots_on_their_actors_lane(paired):
    out, text, page = paired
    dots = Counter(d["data-lane"] for d in page.dots)
    assert dots["scenario"] == sum(1 for s in out["steps"] if s["actor"] == "scenario")
    assert dots["CH"] == sum(1 for s in out["steps"] if s["actor"] == "CH" and s["name"] not in MESSAGES)
    assert "ch.device_log_added" in text


def test_success_is_never_red(paired, refused):
    _out, text, page = paired
    assert RED not in {color for _tag, color in page.svg_colors}      # a pairing that worked: nothing red
    assert "hht_residency_over" in text                                   # shown, as why, not as a failure
    _out, _text, page = refused
    red = [a for a in page.arrows if a["stroke"] == RED]
    assert red and all("no_answer_from_ch" in a["label"] for a in red)    # the unanswered CBKE attempts
    assert all(a["stroke"] != RED for a in page.arrows if " → " not in a["label"])


def test_device_log_has_readable_times_hex_nwk_addresses_and_device_type_names(paired):
    _out, text, page = paired
    assert "None" not in text
    cells = page.cells
    for name in ("ESME (1)", "PPMID (5)", "Type 2 (6)"):
        assert name in cells
    assert any(re.fullmatch(r"0x[0-9A-F]{4}", c) for c in cells)
    assert not [c for c in cells if re.fullmatch(r"\d{3,}\.\d+", c)]          # no raw clock seconds
    hht_rows = [i for i, c in enumerate(cells) if c == "Type 2 (6)"]
    assert hht_rows and all(re.fullmatch(r"19:00:0\d\.\d{3}", cells[i + 5]) for i in hht_rows)   # expiry 18 h on
