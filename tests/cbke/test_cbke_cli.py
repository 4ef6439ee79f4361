"""``rig cbke ca init`` / ``rig cbke issue`` / ``rig cbke show`` through typer's CliRunner."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from rig.cbke import crypto
from rig.cbke.ca import TestCa
from rig.cbke.cli import register
from rig.cbke.engine import CbkeEngine
from rig.cbke.token import CbkeToken

runner = CliRunner()


@pytest.fixture
def app():
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:  # keep "cbke" a subcommand
        pass

    return app


def test_ca_init_issue_show(app, tmp_path):
    ca_dir = tmp_path / "ca"
    res = runner.invoke(app, ["cbke", "ca", "init", str(ca_dir)])
    assert res.exit_code == 0, res.output
    ca = TestCa.load(ca_dir)
    assert ca.public_key.hex().upper() in res.output
    res = runner.invoke(app, ["cbke", "ca", "init", str(ca_dir)])
    assert res.exit_code == 1 and "--force" in res.output

    out = tmp_path / "tokens" / "ch.json"
    res = runner.invoke(
        app, ["cbke", "issue", str(ca_dir), "--eui64", "00:0D:6F:00:00:AB:CD:01", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert {"certificate", "caPublicKey", "privateKey"} <= set(data)
    token = CbkeToken.load(out)
    assert token.subject == bytes.fromhex("000D6F0000ABCD01") and token.ca_public_key == ca.public_key
    assert len(bytes.fromhex(data["certificate"])) == 74 and len(bytes.fromhex(data["privateKey"])) == 36
    d = crypto.decode_private_key(crypto.SUITE2, token.private_key)
    assert crypto.reconstruct_public_key(
        crypto.SUITE2, token.certificate, ca.public_key
    ) == crypto.public_key(crypto.SUITE2, d)
    assert CbkeEngine(token).get_certificate_283k1().certificate == token.certificate

    res = runner.invoke(app, ["cbke", "show", str(out)])
    assert res.exit_code == 0 and "key pair matches certificate and CA key: yes" in res.output
    assert "000D6F0000ABCD01" in res.output


def test_issue_options(app, tmp_path):
    runner.invoke(app, ["cbke", "ca", "init", str(tmp_path), "--issuer", "1122334455667788"])
    out = tmp_path / "hht.json"
    res = runner.invoke(
        app,
        ["cbke", "issue", str(tmp_path), "--eui64", "000D6F0000000002", "--out", str(out), "--serial",
         "0102030405060708", "--valid-from", "1700000000", "--valid-to", "01E13380", "--key-usage", "08"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    cert = crypto.SUITE2.certificate.decode(CbkeToken.load(out).certificate)
    assert cert.issuer == bytes.fromhex("1122334455667788") and cert.serial == bytes.fromhex(
        "0102030405060708"
    )
    assert (cert.valid_from, cert.valid_to, cert.key_usage) == (1700000000, 0x01E13380, 0x08)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--eui64", "0011", "--out", "x.json"], "8 bytes"),
        (["--eui64", "000D6F0000000002", "--out", "x.json", "--key-usage", "1FF"], "key-usage"),
    ],
)
def test_issue_rejects(app, tmp_path, args, message):
    runner.invoke(app, ["cbke", "ca", "init", str(tmp_path)])
    res = runner.invoke(app, ["cbke", "issue", str(tmp_path), *args])
    assert res.exit_code != 0 and message in res.output


def test_issue_without_ca(app, tmp_path):
    res = runner.invoke(
        app, ["cbke", "issue", str(tmp_path), "--eui64", "00" * 8, "--out", str(tmp_path / "t")]
    )
    assert res.exit_code == 1 and "rig cbke ca init" in res.output


def test_show_detects_mismatch(app, tmp_path):
    ca = TestCa.create()
    token = ca.issue("000D6F0000000003")
    bad = CbkeToken(token.certificate, TestCa.create().public_key, token.private_key, 0)
    res = runner.invoke(app, ["cbke", "show", str(bad.save(tmp_path / "bad.json"))])
    assert res.exit_code == 1 and "NO" in res.output
    (tmp_path / "junk.json").write_text("{}")
    assert runner.invoke(app, ["cbke", "show", str(tmp_path / "junk.json")]).exit_code == 1


def test_registered_in_rig_cli():
    from rig.cli import REGISTRARS

    assert "rig.cbke.cli" in REGISTRARS
