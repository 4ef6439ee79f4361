"""The scenario HTML report: self-contained, a sequence diagram with lanes and virtual times, decoded GBCS."""

import re
import xml.etree.ElementTree as ET

from rig.gbcs import create_test_store
from rig.report import fmt_time, lanes_of, render_report, sequence_svg


def ccs01_hex(tmp_path) -> str:
    from rig.gbcs.bundle import generate_bundle

    store = create_test_store(tmp_path / "keys")
    bundle = generate_bundle(store, ppmid="00DB1234567890B2", install_code=bytes.fromhex(
        "83FED3407A939723A5C639B26916D505"))
    return bundle.entries[0].gbcs.hex().upper()


def result(gbcs_hex: str) -> dict:
    return {
        "policy": "gbcs", "outcome": "refused", "reason": "interpan_window_closed", "pcap": "run.pcap",
        "steps": [
            {"name": "ch power on", "time": 0, "result": "ok", "actor": "CH", "peer": None, "detail": {}},
            {"name": "CBKE initiate", "time": 3601.25, "result": "ok", "actor": "HHT", "peer": "CH", "detail": {}},
            {"name": "CCS01", "time": 3602.5, "result": "interpan_window_closed", "actor": "PPMID-A", "peer": "CH",
             "detail": {"gbcs": gbcs_hex}},
            {"name": "join CS03A1", "time": 5 * 86400, "result": "ok", "actor": "PPMID-A", "peer": "ESME",
             "detail": {}},
            {"name": "gpf ready", "time": 1, "result": "ok", "actor": "GPF", "peer": None, "detail": {}},
        ],
        "device_log_before": [{"eui64": "00DB1234567890A0", "type": "ESME"}],
        "device_log_after": [{"eui64": "00DB1234567890A0", "type": "ESME"}],
    }


def test_times_are_printed_as_virtual_clock_offsets():
    assert fmt_time(0) == "+0:00:00.000"
    assert fmt_time(3601.25) == "+1:00:01.250"
    assert fmt_time(5 * 86400 + 1) == "+5d 0:00:01.000"


def test_lanes_follow_the_premises_order():
    steps = result("")["steps"]
    assert lanes_of(steps) == ["CH", "HHT", "PPMID-A", "ESME", "GPF"]


def test_sequence_diagram_is_valid_svg_with_one_arrow_per_exchange():
    svg = sequence_svg(result("")["steps"])
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    arrows = [e for e in root.iter(f"{ns}line") if e.get("marker-end")]
    assert len(arrows) == 3
    assert any("interpan_window_closed" in (t.text or "") for t in root.iter(f"{ns}text"))


def test_report_is_one_self_contained_page_with_decoded_gbcs(tmp_path):
    page = render_report(result(ccs01_hex(tmp_path)))
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page)       # nothing fetched from outside
    assert "interpan_window_closed" in page and "run.pcap" in page
    assert "CCS01 Add Device to CHF Device Log" in page and "00DB1234567890B2" in page
    assert page.count("<table>") >= 4
