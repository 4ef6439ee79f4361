"""The control line of a CH under test that ``rig sim up --ch-dut`` serves: the DCC's WAN route into its
CHF device log, and its power switch.

A real Communications Hub is reached by the DCC over the WAN and powered from the mains; a lab drives
both through its own harness.  The black-box CH the rig serves for CI has one TCP port for both, a
line protocol any harness can speak (``nc`` will do)::

    <- RIGCHDUT1                      greeting
    -> wan 0D...                      a GBCS command for the CHF (hex), as the DCC sends it over the WAN
    <- ok                             accepted (a CCS01's device is in the log)
    <- refused REASON                 refused, with the CH's reason
    -> power-cycle                    the CH loses power and boots (its dongle too)
    <- ok
    <- error TEXT                     anything else

:class:`WanClient` is the rig's side (``external_ch.wan`` in an inventory); ``rig sim power-cycle URL``
uses it for ``external_ch.power: {command: ...}``.
"""

from __future__ import annotations

import asyncio
import contextlib

GREETING = b"RIGCHDUT1\n"
ANSWER_TIMEOUT_S = 120.0       # a power cycle re-forms the HAN; a CCS01 is checked at once


class WanError(Exception):
    """The CH's control line cannot be reached or does not speak the protocol (the message says which)."""


def parse_url(url: str) -> tuple[str, int]:
    from rig.transport import tcp_address

    address = tcp_address(url)
    if address is None:
        raise WanError(f"a CH control URL looks like tcp://127.0.0.1:PORT, got {url!r}")
    return address


async def request(url: str, line: str, *, timeout: float = ANSWER_TIMEOUT_S) -> tuple[str, str]:
    """Send one request line; returns ``(word, rest)`` of the answer (``ok``/``refused``/``error``)."""
    host, port = parse_url(url)
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 10.0)
    except (OSError, TimeoutError) as exc:
        raise WanError(f"cannot reach the CH's control line at {url}: {getattr(exc, 'strerror', None) or exc or 'timed out'}") from None
    try:
        try:
            greeting = await asyncio.wait_for(reader.readline(), 10.0)
        except TimeoutError:
            raise WanError(f"{url} accepts connections but says nothing (expected {GREETING.strip().decode()})") from None
        if greeting != GREETING:
            raise WanError(f"{url} is not a CH control line (it greeted {greeting[:40]!r})")
        writer.write(line.encode() + b"\n")
        await writer.drain()
        try:
            answer = await asyncio.wait_for(reader.readline(), timeout)
        except TimeoutError:
            raise WanError(f"{url}: no answer to {line.split()[0]} within {timeout:g} s") from None
        if not answer:
            raise WanError(f"{url} closed the line without answering {line.split()[0]}")
        word, _, rest = answer.decode(errors="replace").strip().partition(" ")
        return word, rest
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


class WanClient:
    """The rig's (the DCC's) side of one CH's control line."""

    def __init__(self, url: str) -> None:
        parse_url(url)
        self.url = url

    async def send_gbcs(self, command: bytes) -> str | None:
        """Send a GBCS command to the CHF; None when accepted, else the CH's refusal reason."""
        word, rest = await request(self.url, f"wan {command.hex()}")
        if word == "ok":
            return None
        if word == "refused":
            return rest or "refused"
        raise WanError(f"{self.url}: {rest or word}")

    async def power_cycle(self) -> None:
        word, rest = await request(self.url, "power-cycle")
        if word != "ok":
            raise WanError(f"{self.url}: power-cycle failed: {rest or word}")
