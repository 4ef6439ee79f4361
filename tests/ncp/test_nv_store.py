"""The emulated NV file: a save writes the tokens when they changed, and only then."""

import json
from dataclasses import asdict

from firmware_shims.ncp.nv import NetworkTokens, NvState, NvStore

EUI = "00124B0000000001"


def test_a_save_of_changed_tokens_replaces_the_file_and_a_save_of_the_same_tokens_writes_nothing(tmp_path):
    path = tmp_path / "nv.json"
    store = NvStore(path, EUI)
    first = path.stat().st_ino
    store.state.boot_counter += 1
    store.save()
    changed = path.stat().st_ino
    assert changed != first                          # a new file renamed over the old one
    store.save()
    store.save()
    assert path.stat().st_ino == changed             # unchanged tokens: the same file, not rewritten
    assert NvState.from_json(path.read_text()).boot_counter == 1
    assert store.reload().boot_counter == 1


def test_a_file_replaced_behind_the_store_is_rewritten_by_the_next_save_even_if_the_tokens_did_not_change(tmp_path):
    path = tmp_path / "nv.json"
    store = NvStore(path, EUI)
    other = NvState(factory_eui64=EUI, boot_counter=7)
    (tmp_path / "other").write_text(other.to_json())
    (tmp_path / "other").replace(path)               # another writer (a test, a tool) put its tokens there
    store.save()
    assert NvState.from_json(path.read_text()).boot_counter == 0   # this store's tokens, as before


def test_a_deleted_file_is_written_again(tmp_path):
    path = tmp_path / "nv.json"
    store = NvStore(path, EUI)
    path.unlink()
    store.save()
    assert NvState.from_json(path.read_text()).factory_eui64 == EUI


def test_a_store_without_a_file_keeps_its_snapshot_for_reload():
    store = NvStore(None, EUI)
    store.state.boot_counter = 3
    store.save()
    store.state.boot_counter = 4
    assert store.reload().boot_counter == 3


def test_the_file_holds_every_token_with_the_network_nested_and_reads_back_equal():
    state = NvState(factory_eui64=EUI, network=NetworkTokens(pan_id=0x1234, channel=15),
                    key_table=[{"eui64": "00" * 8, "key": "11" * 16, "tx": 1, "rx": 2}],
                    address_map={"00124B0000000002": 0x4321}, ezsp_tokens={"0": "00" * 8})
    text = state.to_json()
    assert json.loads(text) == asdict(state)
    assert text == json.dumps(asdict(state), indent=1, sort_keys=True)    # the layout of the file, too
    assert NvState.from_json(text) == state
