"""One self-contained HTML page for a scenario run: summary, SVG sequence diagram, decoded GBCS, device log.

No external assets: inline CSS and SVG only, so the file can be mailed or attached to a CI run.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field

from rig.events import MESSAGES, RECEIVED, SENT, failed
from rig.gbcs import Message, decode_payload
from rig.gbcs.usecases import DeviceType
from rig.scenarios.secmp0037 import ScenarioResult, format_duration, format_time

LANES = ("scenario", "CH", "GPF", "PPMID/A", "PPMID/B", "ESME", "GSME")
LANE_W, ROW_H, LEFT, TOP = 170, 24, 110, 40
OK_COLOR, BAD_COLOR = "#222", "#c0392b"


def _lane_of(peer: str | None, identities: dict[str, str]) -> str | None:
    if peer is None:
        return None
    if peer in LANES:
        return peer
    for lane, entity in identities.items():
        if entity.upper() == str(peer).upper():
            return "CH" if lane in ("GPF", "CHF") else lane
    return None


@dataclass
class DiagramRow:
    """One row of the sequence diagram: an arrow ``src`` -> ``dst`` (one message, whichever of its ends
    logged it) or, with ``dst`` None, a step on the lane ``src``."""

    time: float
    src: str
    dst: str | None
    label: str
    failed: bool = False
    steps: list[int] = field(default_factory=list)      # indices into the result's steps
    ends: set[str] = field(default_factory=set)          # "sent" / "received": which ends logged it


def _label(step: dict, message: str | None = None) -> str:
    d = step.get("detail") or {}
    if message is not None:
        text = message
    else:
        extra = d.get("use_case")
        if extra:
            extra = f"{extra} {d.get('cra', '')}".strip()
        text = step["name"] + (f" [{extra}]" if extra else "")
    if step["result"] != "ok":
        text += f" → {step['result']}"       # red only when it failed (``failed``), never a success
    return text


def diagram(result: ScenarioResult) -> list[DiagramRow]:
    """The diagram's rows: one arrow per message from its sender's lane to its receiver's, placed at
    the first of its ends' events (the receiver may log before the sender does); the other end's event
    joins that arrow instead of drawing its own.  A received end that failed (nothing arrived) and
    every other step is a dot on the lane of the actor that logged it."""
    rows: list[DiagramRow] = []
    waiting: dict[tuple, list[DiagramRow]] = {}       # message key -> arrows that lack one end
    for i, step in enumerate(result.steps):
        actor = step["actor"] if step["actor"] in LANES else "scenario"
        bad = failed(step["name"], step["result"])
        src = _lane_of(step.get("sender"), result.identities)
        dst = _lane_of(step.get("receiver"), result.identities)
        end = None if step["name"] not in MESSAGES else MESSAGES[step["name"]][1]
        if end is None or src is None or dst is None or src == dst or (end == RECEIVED and bad):
            rows.append(DiagramRow(step["time"], actor, None, _label(step), bad, [i]))
            continue
        detail = step.get("detail") or {}
        key = (detail.get("hex") or step.get("message"), src, dst)
        row = next((r for r in waiting.get(key, []) if end not in r.ends), None)
        if row is None:
            row = DiagramRow(step["time"], src, dst, _label(step, step.get("message")), bad)
            rows.append(row)
            waiting.setdefault(key, []).append(row)
        elif bad:
            row.failed, row.label = True, _label(step, step.get("message"))
        row.steps.append(i)
        row.ends.add(end)
        if row.ends == {SENT, RECEIVED}:
            waiting[key].remove(row)
    return rows


def sequence_svg(result: ScenarioResult) -> str:
    rows = diagram(result)
    width = LEFT + LANE_W * len(LANES) + 40
    height = TOP + ROW_H * (len(rows) + 1)
    x = {lane: LEFT + LANE_W * i + LANE_W // 2 for i, lane in enumerate(LANES)}
    out = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
           f'font-size="11"><defs><marker id="arr" markerWidth="8" markerHeight="8" refX="7" refY="3" orient="auto">'
           f'<path d="M0,0 L7,3 L0,6 z" fill="#333"/></marker></defs>')]
    for lane, cx in x.items():
        out.append(f'<text class="lane" x="{cx}" y="20" text-anchor="middle" font-weight="bold">'
                   f'{html.escape(lane)}</text>')
        out.append(f'<line x1="{cx}" y1="28" x2="{cx}" y2="{height}" stroke="#bbb" stroke-dasharray="4 3"/>')
    for i, row in enumerate(rows):
        y = TOP + ROW_H * i + 12
        color = BAD_COLOR if row.failed else OK_COLOR
        out.append(f'<text x="4" y="{y + 4}" fill="#666">{html.escape(format_time(row.time))}</text>')
        label = html.escape(row.label)
        if row.dst is not None:
            out.append(f'<line class="message" data-from="{html.escape(row.src)}" data-to="{html.escape(row.dst)}" '
                       f'x1="{x[row.src]}" y1="{y}" x2="{x[row.dst]}" y2="{y}" stroke="{color}" '
                       f'marker-end="url(#arr)"><title>{label}</title></line>')
            mid = (x[row.src] + x[row.dst]) // 2
            out.append(f'<text x="{mid}" y="{y - 3}" text-anchor="middle" fill="{color}">{label}</text>')
        else:
            out.append(f'<circle class="step" data-lane="{html.escape(row.src)}" cx="{x[row.src]}" cy="{y}" r="4" '
                       f'fill="{color}"/>')
            out.append(f'<text x="{x[row.src] + 8}" y="{y + 4}" fill="{color}">{label}</text>')
    out.append("</svg>")
    return "".join(out)


def _gas_read(result: ScenarioResult) -> str:
    """What the PPMID read of the gas meter (the GPF's answer from the GSME's mirror), or why not."""
    if "GSME" not in result.identities:
        return "no GSME on this premises"
    reads = [s for s in result.steps if s["name"] == "ppmid.gas_read"]
    if not reads:
        return "not read"
    last = reads[-1]
    if last["result"] != "ok":
        return f"failed: {html.escape(last['result'])}"
    return (f"{html.escape(str(last['detail'].get('value')))} (CurrentSummationDelivered, from the GSME "
            f"{html.escape(result.identities['GSME'])} via the GPF's mirror) at {format_time(last['time'])}")


def _text(value) -> str:
    """A cell: escaped, and ``-`` for a value that is not there (never "None")."""
    return "-" if value is None or value == "" else html.escape(str(value))


def _gbcs_rows(result: ScenarioResult) -> str:
    rows, seen = [], set()
    for step in result.steps:
        d = step.get("detail") or {}
        data = d.get("hex")
        if not data or data in seen:
            continue
        seen.add(data)
        try:
            m = Message.from_bytes(bytes.fromhex(data))
            payload = decode_payload(m)
            decoded = json.dumps({k: (v.hex() if isinstance(v, bytes) else str(v) if not isinstance(v, int | bool) else v)
                                  for k, v in payload.items()}, indent=1)
        except Exception as exc:  # noqa: BLE001
            decoded = f"undecodable: {exc}"
        rows.append(f"<tr><td>{html.escape(format_time(step['time']))}</td><td>{_text(step['actor'])}</td>"
                    f"<td>{_text(d.get('use_case'))} {_text(d.get('cra'))}</td>"
                    f"<td>{_text(d.get('originator'))} → {_text(d.get('recipient'))}</td>"
                    f"<td>{_text(d.get('counter'))}</td><td><pre>{html.escape(decoded)}</pre></td></tr>")
    return ("<table><tr><th>time</th><th>seen by</th><th>use case</th><th>from → to</th><th>counter</th>"
            "<th>payload</th></tr>" + "".join(rows) + "</table>")


DEVICE_TYPE_NAMES = {DeviceType.TYPE2: "Type 2"}     # an IHD / CAD, and the rig's HHT (decision 1)
LOG_COLUMNS = (("eui64", "EUI-64"), ("device_type", "device type"), ("join_state", "join state"),
               ("nwk", "NWK address"), ("added_via", "added via"), ("added_at", "added at"),
               ("hht_expiry", "HHT expires at"))


def _log_cell(column: str, value, origin: float) -> str:
    if value is None or value == "":
        return "-"
    if column == "device_type":
        try:
            kind = DeviceType(int(value))
        except ValueError:
            return str(value)
        return f"{DEVICE_TYPE_NAMES.get(kind, kind.name)} ({int(kind)})"
    if column == "nwk":
        return f"0x{int(value):04X}"
    if column in ("added_at", "hht_expiry"):
        return format_time(float(value) - origin)
    return str(value)


def _log_table(entries: list[dict], origin: float = 0.0) -> str:
    """The CHF device log: device types by name, NWK addresses in hex, times as the steps' virtual time."""
    if not entries:
        return "<p><em>empty</em></p>"
    head = "".join(f"<th>{title}</th>" for _, title in LOG_COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_log_cell(c, e.get(c), origin))}</td>" for c, _ in LOG_COLUMNS)
                   + "</tr>" for e in entries)
    return f"<table><tr>{head}</tr>{body}</table>"


def render(result: ScenarioResult, attacks=None) -> str:
    """The scenario page; with ``attacks`` (AttackResults) it carries the attack section too."""
    verdict = "PAIRED" if result.outcome == "paired" else f"REFUSED — {result.reason}"
    checks = "".join(f"<li class='{'ok' if v else 'bad'}'>{html.escape(k)}: {'yes' if v else 'NO'}</li>"
                     for k, v in result.checks.items())
    checks += "".join(f"<li>{html.escape(k)}: not checked ({html.escape(why)})</li>"
                      for k, why in result.not_checked.items())
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>SECMP0037 scenario — {html.escape(verdict)}</title>
<style>body{{font-family:sans-serif;margin:2em;color:#222}} table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:3px 6px;vertical-align:top;font-size:12px}} pre{{margin:0;font-size:11px}}
.ok{{color:#1e8449}} .bad{{color:#c0392b;font-weight:bold}} h1 .v{{color:{'#1e8449' if result.outcome == 'paired' else '#c0392b'}}}</style>
</head><body>
<h1>SECMP0037 local pairing: <span class="v">{html.escape(verdict)}</span></h1>
<table><tr><th>policy</th><td>{html.escape(result.policy)}</td></tr>
<tr><th>PPMID powered on at</th><td>{format_duration(result.ppmid_delay)} after CH power-on</td></tr>
<tr><th>CH power cycle at</th><td>{'none' if result.ch_power_cycle_at is None else format_duration(result.ch_power_cycle_at)}</td></tr>
<tr><th>identities</th><td>{html.escape(', '.join(f'{k} {v}' for k, v in result.identities.items()))}</td></tr>
<tr><th>gas read</th><td>{_gas_read(result)}</td></tr>
<tr><th>capture</th><td>{html.escape(result.pcap or 'none')}</td></tr>
<tr><th>real time</th><td>{result.real_seconds:.1f} s</td></tr></table>
<h2>Checks</h2><ul>{checks or '<li>none</li>'}</ul>
<h2>Sequence (virtual time)</h2>
{sequence_svg(result)}
<h2>GBCS messages</h2>
{_gbcs_rows(result)}
<h2>CHF device log</h2>
<h3>before the PPMID powered on</h3>{_log_table(result.device_log_before, result.clock_origin)}
<h3>after the pairing attempt</h3>{_log_table(result.device_log_after_pairing, result.clock_origin)}
<h3>at the end</h3>{_log_table(result.device_log_after, result.clock_origin)}
{attack_section(attacks) if attacks is not None else ""}
</body></html>
"""


# --- the attack section --------------------------------------------------------------------------------

STYLE = ("body{font-family:sans-serif;margin:2em;color:#222} table{border-collapse:collapse;margin:1em 0}"
         "td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top;font-size:12px} pre{margin:0;font-size:11px;"
         "white-space:pre-wrap;word-break:break-all} .ok{color:#1e8449} .bad{color:#c0392b;font-weight:bold}"
         " .warn{color:#b9770e}")


def attack_section(results) -> str:
    """The attack table (``rig.attacks.runner.AttackResult`` list) and, for each breach, the frames that did it."""
    if not results:
        return "<h2>Attacks</h2><p><em>none run</em></p>"
    held = sum(r.outcome == "held" for r in results)
    unexpected = sum(r.outcome == "held" and r.reason_expected is False for r in results)
    rows = []
    for r in results:
        cls = "ok" if r.outcome == "held" and r.reason_expected is not False else "warn" if r.outcome == "held" else "bad"
        unchanged = "-" if r.state_unchanged is None else ("yes" if r.state_unchanged else "NO")
        anchor = f' <a href="#breach-{html.escape(r.name)}-{r.policy}">frames</a>' if r.outcome != "held" else ""
        rows.append(f"<tr><td>{html.escape(r.name)}</td><td>{html.escape(r.policy)}</td><td>{html.escape(r.rule)}</td>"
                    f"<td>{html.escape(r.source)}</td><td class='{cls}'>{html.escape(r.outcome)}{anchor}</td>"
                    f"<td>{html.escape(r.reason or '-')}</td><td>{html.escape(' | '.join(r.expected))}</td>"
                    f"<td>{unchanged}</td><td>{r.real_seconds:.1f} s</td></tr>")
    note = f" ({unexpected} with a reason the attack does not expect)" if unexpected else ""
    out = [f"<h2>Attacks: {held} of {len(results)} held{note}</h2>",
           "<table><tr><th>attack</th><th>policy</th><th>rule</th><th>source</th><th>outcome</th><th>reason</th>"
           "<th>expected</th><th>state unchanged</th><th>real time</th></tr>" + "".join(rows) + "</table>"]
    for r in results:
        if r.outcome == "held":
            continue
        observed = "".join(f"<li>{html.escape(o)}</li>" for o in r.observed)
        changes = "".join(f"<li>{html.escape(c)}</li>" for c in r.state_changes)
        frames = "".join(f"<tr><td>{i}</td><td>{html.escape(fr['what'])}</td><td><pre>{html.escape(fr['hex'])}</pre></td></tr>"
                         for i, fr in enumerate(r.frames, 1))
        out.append(f"<h3 id='breach-{html.escape(r.name)}-{r.policy}' class='bad'>{html.escape(r.name)} ({r.policy}): "
                   f"{html.escape(r.outcome)}</h3><p>{html.escape(r.rule)}</p><h4>observed</h4><ul>{observed}</ul>"
                   + (f"<h4>CH state changes</h4><ul>{changes}</ul>" if changes else "")
                   + "<h4>the frames that did it (MPDUs without FCS: the attacker's, else what the sniffer heard "
                     "after the attack began)</h4>"
                   + (f"<table><tr><th>#</th><th>frame</th><th>hex</th></tr>{frames}</table>" if frames
                      else "<p><em>none: the breach came from legitimate steps after the attack</em></p>"))
    return "\n".join(out)


def render_attacks(results) -> str:
    """A self-contained page with the attack section alone (``rig attack run --report``)."""
    held = sum(r.outcome == "held" for r in results)
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>SECMP0037 attack catalogue — {held}/{len(results)} held</title>
<style>{STYLE}</style></head><body>
<h1>SECMP0037 attack catalogue</h1>
{attack_section(results)}
</body></html>
"""
