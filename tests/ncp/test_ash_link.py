"""ASH on the NCP side, driven byte by byte as a host would (no event loop: timers are not armed)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scale import scaled

from firmware_shims.ncp import ash
from firmware_shims.ncp.ash import Ack, AshNcp, Data, Nak, Rst, RstAck, decode, stuff


class Host:
    """Records what the NCP writes and what it delivers upward."""

    def __init__(self):
        self.out = bytearray()
        self.delivered = []
        self.resets = 0
        self.ncp = AshNcp(self.out.extend, self.delivered.append, self.reset)

    def reset(self):
        self.resets += 1

    def send(self, frame):
        self.ncp.data_received(stuff(frame.encode()))

    def frames(self):
        reader = ash.FrameReader()
        got = [decode(f) for f in reader.feed(bytes(self.out))]
        self.out.clear()
        return got

    def connect(self):
        self.send(Rst())
        assert self.frames() == [RstAck(code=ash.ResetCode.SOFTWARE)]


def test_every_rst_is_answered_with_the_software_reset_code_the_first_one_too():
    # RST asks for a software reset (UG101); zigbee-herdsman ignores an RSTACK with another code and
    # tries again only after 5 s
    host = Host()
    for _ in range(2):
        host.send(Rst())
        assert host.frames() == [RstAck(code=ash.ResetCode.SOFTWARE)]
    assert host.resets == 2


def test_known_wire_bytes_of_rst_rstack_and_ack():
    assert stuff(Rst().encode()) == bytes.fromhex("C038BC7E")
    assert stuff(RstAck(0x0B).encode()) == bytes.fromhex("C1020B0A527E")
    assert stuff(Ack(1).encode()) == bytes.fromhex("8160597E")


def test_rst_is_answered_with_rstack_and_resets_numbers():
    host = Host()
    host.connect()
    host.send(Data(0, False, 0, b"\x00\x00\x00\x04"))
    assert host.delivered == [b"\x00\x00\x00\x04"]
    host.send(Rst())
    assert host.frames()[-1] == RstAck(code=ash.ResetCode.SOFTWARE)
    host.send(Data(0, False, 0, b"\x01\x00\x00\x04"))        # numbering restarted at 0
    assert host.delivered[-1] == b"\x01\x00\x00\x04"
    assert host.resets == 2


def test_in_sequence_data_is_acked_and_delivered_once():
    host = Host()
    host.connect()
    host.send(Data(0, False, 0, b"abc"))
    assert host.frames() == [Ack(1)]
    host.send(Data(0, True, 0, b"abc"))                       # retransmission of a frame we had
    assert host.frames() == [Ack(1)]
    assert host.delivered == [b"abc"]
    assert host.ncp.stats["duplicates"] == 1


def test_crc_error_gives_one_nak_then_retransmission_is_accepted():
    host = Host()
    host.connect()
    good = Data(0, False, 0, b"hello").encode()
    damaged = good[:-1] + bytes([good[-1] ^ 0xFF])
    host.ncp.data_received(stuff(damaged))
    host.ncp.data_received(stuff(damaged))                    # still rejecting: no second NAK
    assert host.frames() == [Nak(0)]
    host.send(Data(0, True, 0, b"hello"))
    assert host.frames() == [Ack(1)]
    assert host.delivered == [b"hello"]


def test_wrong_frame_number_is_refused_with_nak():
    host = Host()
    host.connect()
    host.send(Data(3, False, 0, b"x"))
    assert host.frames() == [Nak(0)]
    assert host.delivered == []


def test_host_nak_makes_the_ncp_retransmit_with_retx_set():
    host = Host()
    host.connect()
    host.ncp.send(b"callback-1")
    (first,) = host.frames()
    assert first == Data(0, False, 0, b"callback-1")
    host.send(Nak(0))
    assert host.frames() == [Data(0, True, 0, b"callback-1")]
    host.send(Ack(1))
    assert host.ncp.pending == 0


def test_output_is_paced_by_the_window_until_acks_arrive():
    host = Host()
    host.connect()
    for i in range(12):
        host.ncp.send(bytes([i]) * 100)
    sent = host.frames()
    assert 1 <= len(sent) <= ash.WINDOW
    assert sum(len(stuff(f.encode())) for f in sent) <= ash.WINDOW_BYTES + 300
    host.send(Ack(len(sent) & 7))
    more = host.frames()
    assert more and more[0].frm_num == len(sent) & 7


def test_reset_in_the_middle_of_a_command_drops_the_partial_frame():
    host = Host()
    host.connect()
    partial = stuff(Data(0, False, 0, b"half a command").encode())[:6]
    host.ncp.data_received(partial)
    host.ncp.data_received(bytes([ash.CANCEL]))     # bellows sends CANCELs before every RST
    host.send(Rst())
    frames = host.frames()
    assert frames == [RstAck(code=ash.ResetCode.SOFTWARE)]
    assert host.delivered == []
    host.send(Data(0, False, 0, b"after"))
    assert host.delivered == [b"after"]


def test_rst_glued_to_a_partial_frame_is_rejected_and_a_retried_rst_works():
    host = Host()
    host.connect()
    host.ncp.data_received(stuff(Data(0, False, 0, b"cut short").encode())[:5])
    host.send(Rst())                    # no CANCEL: partial frame + RST read as one bad DATA frame
    assert host.frames() == [Nak(0)]
    host.send(Rst())
    assert host.frames() == [RstAck(code=ash.ResetCode.SOFTWARE)]


def test_cancel_and_substitute_bytes_discard_the_frame_in_progress():
    host = Host()
    host.connect()
    frame = stuff(Data(0, False, 0, b"payload").encode())
    host.ncp.data_received(frame[:4] + bytes([ash.CANCEL]) + frame)
    assert host.delivered == [b"payload"]
    host.ncp.data_received(bytes([0x11]) + frame[:3] + bytes([ash.SUBSTITUTE]) + frame[3:])
    assert host.delivered == [b"payload"]           # the substituted frame was dropped whole
    host.send(Data(1, False, 0, b"next"))
    assert host.delivered[-1] == b"next"


@given(st.binary(max_size=256))
def test_randomisation_and_stuffing_round_trip(payload):
    if not payload:
        payload = b"\x00"
    frame = Data(5, True, 2, payload)
    reader = ash.FrameReader()
    (raw,) = reader.feed(stuff(frame.encode()))
    assert decode(raw) == frame


@pytest.mark.fuzz
@settings(max_examples=scaled(150), deadline=None)
@given(st.binary(max_size=600))
def test_fuzz_garbage_never_crashes_and_sync_is_regained(garbage):
    host = Host()
    host.connect()
    host.ncp.data_received(garbage)
    # whatever state the garbage left, a CANCEL + RST + in-sequence DATA works again
    host.ncp.data_received(bytes([ash.CANCEL, ash.FLAG]))
    host.send(Rst())
    host.delivered.clear()
    host.send(Data(0, False, 0, b"resync"))
    assert host.delivered == [b"resync"]


def test_a_host_that_goes_away_leaves_nothing_queued_and_the_next_host_must_reset():
    host = Host()
    host.connect()
    for i in range(8):
        host.ncp.send(bytes([i]))
    assert host.ncp.pending == 8
    host.ncp.host_gone()
    assert host.ncp.pending == 0
    host.frames()
    host.send(Data(0, False, 0, b"stale"))          # not connected any more: ignored until RST
    assert host.delivered == []
    host.send(Rst())
    assert host.frames() == [RstAck(code=ash.ResetCode.SOFTWARE)]


# --- the C-speed byte paths against the byte-at-a-time reading of UG101 they replaced ----------

def _reference_stuff(frame: bytes) -> bytes:
    out = bytearray()
    for b in frame:
        out += bytes((ash.ESCAPE, b ^ 0x20)) if b in ash.RESERVED else bytes((b,))
    return bytes(out + bytes((ash.FLAG,)))


def _reference_unstuff(data: bytes) -> bytes | str:
    out, escaped = bytearray(), False
    for b in data:
        if escaped:
            out.append(b ^ 0x20)
            escaped = False
        elif b == ash.ESCAPE:
            escaped = True
        else:
            out.append(b)
    return "ends inside an escape" if escaped else bytes(out)


def _reference_feed(state: dict, data: bytes) -> list:
    out = []
    for b in data:
        if b == ash.FLAG:
            if state["overflowed"]:
                out.append("overflow")
            elif state["buf"] and not state["discarding"]:
                out.append(_reference_unstuff(bytes(state["buf"])))
            state["buf"].clear()
            state["discarding"] = state["overflowed"] = False
        elif b == ash.CANCEL:
            state["buf"].clear()
            state["discarding"] = state["overflowed"] = False
        elif b == ash.SUBSTITUTE:
            state["buf"].clear()
            state["discarding"] = True
        elif b in (ash.XON, ash.XOFF):
            continue
        elif not state["discarding"] and not state["overflowed"]:
            state["buf"].append(b)
            if len(state["buf"]) > ash.FrameReader.MAX_BUFFER:
                state["buf"].clear()
                state["overflowed"] = True
    return out


def _reference_randomise(data: bytes) -> bytes:
    seq, r = bytearray(), 0x42
    for _ in range(ash.MAX_PAYLOAD):
        seq.append(r)
        r = (r >> 1) ^ 0xB8 if r & 1 else r >> 1
    return bytes(a ^ b for a, b in zip(data, seq))


# bytes drawn mostly from the reserved ones, so escapes, flags and cancels meet in every order
_wire_byte = st.one_of(st.sampled_from(sorted(ash.RESERVED)), st.integers(0, 255))
_wire = st.lists(_wire_byte, max_size=700).map(bytes)


@settings(max_examples=scaled(300), deadline=None)
@given(_wire)
def test_stuffing_unstuffing_and_randomising_give_the_bytes_of_the_byte_at_a_time_reading(data):
    assert ash.stuff(data) == _reference_stuff(data)
    expected = _reference_unstuff(data)
    if isinstance(expected, str):
        with pytest.raises(ash.AshError, match="inside an escape"):
            ash.unstuff(data)
    else:
        assert ash.unstuff(data) == expected
        assert ash.unstuff(bytearray(data)) == expected
    assert ash._randomise(data) == _reference_randomise(data)


@settings(max_examples=scaled(300), deadline=None)
@given(st.lists(_wire, min_size=1, max_size=6))
def test_frame_reader_cuts_any_stream_in_any_chunks_as_the_byte_at_a_time_reading(chunks):
    reader = ash.FrameReader()
    state = {"buf": bytearray(), "discarding": False, "overflowed": False}
    for chunk in chunks:
        got = ["overflow" if isinstance(x, ash.AshError) and "longer" in str(x)
               else "ends inside an escape" if isinstance(x, ash.AshError) else x
               for x in reader.feed(chunk)]
        assert got == _reference_feed(state, chunk)
    assert bytes(reader._buf) == bytes(state["buf"])
    assert (reader._discarding, reader._overflowed) == (state["discarding"], state["overflowed"])
