"""One self-contained HTML page per scenario run: what an engineer looks at instead of logs.

``render_report(result)`` takes the scenario's JSON result (the same object ``--json`` prints:
``policy``, ``outcome``, ``reason``, ``steps`` = events with ``name``, ``time``, ``result``, ``actor``,
``peer``, ``detail``) plus, when present, ``device_log_before`` / ``device_log_after`` (lists of row
dicts), ``pcap`` (file name) and GBCS messages (any event detail ``gbcs`` holding the message as hex,
decoded here with ``rig.gbcs``).  The page has no external resources: inline CSS and an inline SVG
sequence diagram with one lane per party (CH, the HHT/PPMID identities, ESME, GPF) and virtual times.
"""

from __future__ import annotations

import html
from typing import Any

LANE_ORDER = ("CH", "HHT", "PPMID-A", "PPMID-B", "PPMID", "ESME", "GPF", "GSME")
LANE_W, ROW_H, TOP, LEFT = 150, 30, 50, 110


def fmt_time(seconds: float) -> str:
    """Virtual time as ``+[Nd ]H:MM:SS.mmm``."""
    sign = "-" if seconds < 0 else "+"
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    day = f"{int(days)}d " if days else ""
    return f"{sign}{day}{int(hours)}:{int(minutes):02d}:{secs:06.3f}"


def _lane_key(name: str) -> str:
    return name.upper()


def lanes_of(steps: list[dict]) -> list[str]:
    seen: list[str] = []
    for step in steps:
        for who in (step.get("actor"), step.get("peer")):
            if who and who not in seen:
                seen.append(who)

    def order(name: str) -> tuple[int, int]:
        key = _lane_key(name)
        rank = next((i for i, lane in enumerate(LANE_ORDER) if key.startswith(lane)), len(LANE_ORDER))
        return rank, seen.index(name)

    return sorted(seen, key=order)


def sequence_svg(steps: list[dict]) -> str:
    lanes = lanes_of(steps)
    x = {lane: LEFT + i * LANE_W + LANE_W // 2 for i, lane in enumerate(lanes)}
    width = LEFT + max(1, len(lanes)) * LANE_W + 20
    height = TOP + ROW_H * (len(steps) + 1)
    out = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'font-family="monospace" font-size="11" role="img" aria-label="sequence diagram">'),
           ('<defs><marker id="arrow" markerWidth="8" markerHeight="8" refX="7" refY="3" orient="auto">'
            '<path d="M0,0 L0,6 L7,3 z" fill="#333"/></marker>'
            '<marker id="arrow-bad" markerWidth="8" markerHeight="8" refX="7" refY="3" orient="auto">'
            '<path d="M0,0 L0,6 L7,3 z" fill="#b00"/></marker></defs>')]
    for lane, cx in x.items():
        out.append(f'<text x="{cx}" y="20" text-anchor="middle" font-weight="bold">{html.escape(lane)}</text>')
        out.append(f'<line x1="{cx}" y1="28" x2="{cx}" y2="{height - 5}" stroke="#aaa" stroke-dasharray="4 3"/>')
    for i, step in enumerate(steps):
        y = TOP + i * ROW_H
        ok = step.get("result", "ok") == "ok"
        colour = "#333" if ok else "#b00"
        label = html.escape(step["name"] + ("" if ok else f" ✗ {step['result']}"))
        out.append(f'<text x="4" y="{y + 4}" fill="#666">{html.escape(fmt_time(step.get("time", 0)))}</text>')
        actor, peer = step.get("actor"), step.get("peer")
        if actor in x and peer in x and peer != actor:
            x1, x2 = x[actor], x[peer]
            marker = "arrow" if ok else "arrow-bad"
            out.append(f'<line x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" stroke="{colour}" '
                       f'marker-end="url(#{marker})"/>')
            out.append(f'<text x="{(x1 + x2) / 2}" y="{y - 4}" text-anchor="middle" fill="{colour}">{label}</text>')
        elif actor in x:
            cx = x[actor]
            out.append(f'<circle cx="{cx}" cy="{y}" r="4" fill="{colour}"/>')
            out.append(f'<text x="{cx + 8}" y="{y + 4}" fill="{colour}">{label}</text>')
    out.append("</svg>")
    return "\n".join(out)


def _table(rows: list[dict], empty: str) -> str:
    if not rows:
        return f"<p class='muted'>{html.escape(empty)}</p>"
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(row.get(c, '')))}</td>" for c in columns) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _gbcs_sections(steps: list[dict], keys=None) -> str:
    from rig.gbcs.cli import describe

    parts = []
    for step in steps:
        hex_message = (step.get("detail") or {}).get("gbcs")
        if not hex_message:
            continue
        try:
            decoded = describe(bytes.fromhex(hex_message), keys)
        except Exception as exc:  # noqa: BLE001 - a report shows what it cannot decode, it does not die
            decoded = {"error": f"{type(exc).__name__}: {exc}"}
        payload = decoded.pop("payload", None)
        rows = [{"field": k, "value": v} for k, v in decoded.items() if k not in ("content",) and v is not None]
        if isinstance(payload, dict):
            rows += [{"field": f"payload.{k}", "value": v} for k, v in payload.items()]
        title = (f"{fmt_time(step.get('time', 0))} — {step['name']} "
                 f"({step.get('actor', '?')} → {step.get('peer') or '?'})")
        parts.append(f"<details><summary>{html.escape(title)}</summary>{_table(rows, 'no fields')}"
                     f"<pre>{html.escape(hex_message)}</pre></details>")
    return "\n".join(parts) or "<p class='muted'>no GBCS messages recorded</p>"


CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:1.4em} h2{font-size:1.1em;margin-top:1.6em}
.ok{color:#070;font-weight:bold} .bad{color:#b00;font-weight:bold} .muted{color:#777}
table{border-collapse:collapse;font-size:0.9em} td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}
pre{white-space:pre-wrap;word-break:break-all;font-size:0.8em;background:#f6f6f6;padding:4px}
.svgbox{overflow-x:auto;border:1px solid #ddd;padding:4px}
"""


def render_report(result: dict[str, Any], *, title: str | None = None, keys=None) -> str:
    """The whole page as a string (write it with ``Path(...).write_text``)."""
    steps = list(result.get("steps", []))
    outcome = result.get("outcome", "?")
    cls = "ok" if outcome == "paired" else "bad"
    title = title or f"SECMP0037 scenario — policy {result.get('policy', '?')}"
    summary_rows = [{"item": k, "value": result[k]} for k in
                    ("policy", "outcome", "reason", "ppmid_delay", "ch_power_cycle_at", "pcap") if k in result]
    step_rows = [{"time": fmt_time(s.get("time", 0)), "actor": s.get("actor", ""), "peer": s.get("peer") or "",
                  "step": s["name"], "result": s.get("result", "ok")} for s in steps]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{CSS}</style></head>
<body>
<h1>{html.escape(title)}</h1>
<p>Outcome: <span class="{cls}">{html.escape(str(outcome))}</span>
{'' if not result.get('reason') else '— reason as the CH saw it: <b>' + html.escape(str(result['reason'])) + '</b>'}</p>
{_table(summary_rows, '')}
<h2>Exchange</h2>
<div class="svgbox">{sequence_svg(steps)}</div>
<h2>Steps</h2>
{_table(step_rows, 'no steps recorded')}
<h2>GBCS messages</h2>
{_gbcs_sections(steps, keys)}
<h2>CHF device log before</h2>
{_table(result.get('device_log_before', []), 'empty')}
<h2>CHF device log after</h2>
{_table(result.get('device_log_after', []), 'empty')}
<h2>Capture</h2>
<p>{html.escape(str(result.get('pcap') or 'no capture written'))}</p>
</body></html>
"""
