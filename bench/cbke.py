"""CBKE figures: milliseconds per full suite-2 (sect283k1) side, and per step.

A *side* is what one NCP computes in one key establishment: ephemeral key generation
(generateCbkeKeys283k1) plus calculateSmacs283k1 -- partner ECQV reconstruction, decompression of the
partner's points, ECMQV, KDF, MACU and MACV.  Keys come from a deterministic test CA, so the run needs
no data files.  The target is < 100 ms per side on CPython 3.11 (a real NCP quotes up to 1 s + 3.5 s).

Run: ``.venv/bin/python -m bench.cbke [N]`` (median of N, default 20), or via ``make bench``.
"""

from __future__ import annotations

import random
import statistics
import sys
import time

TARGET_MS = 100.0


def _ms(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return (time.perf_counter() - t0) * 1000, out


def _kdf_macs(suite, z: bytes, own: bytes, other: bytes, qe: bytes, partner_qe: bytes):
    from rig.cbke import crypto

    mac_key, _key = crypto.kdf(z)
    return crypto.confirm_macs(mac_key, own, other, qe, partner_qe)


def measure(n: int = 20, suite_number: int = 2) -> dict:
    from rig.cbke import crypto
    from rig.cbke.ca import TestCa
    from rig.cbke.engine import CbkeEngine

    suite = crypto.SUITES[suite_number]
    rng = random.Random(2026).randbytes
    if suite_number == 2:
        ca = TestCa.create(rng=rng)
        mine, partner = ca.issue("000D6F0000000001", rng=rng), ca.issue("000D6F0000000002", rng=rng)
    else:  # suite 1: an ad-hoc CA, same steps
        from rig.cbke.certificate import Certificate163k1
        from rig.cbke.token import CbkeToken163k1

        ca_d = crypto.random_scalar(suite, rng)
        ca_q = crypto.encode_point(suite, crypto.public_key(suite, ca_d))

        def issue(eui: str) -> CbkeToken163k1:
            template = Certificate163k1(bytes(22), bytes.fromhex(eui), b"RIGTSTCA", bytes(10))
            cert, d = crypto.issue_certificate(suite, ca_d, template, rng)
            return CbkeToken163k1(cert, ca_q, d.to_bytes(suite.key_size, "big"), 0)

        mine, partner = issue("000D6F0000000001"), issue("000D6F0000000002")

    curve = suite.curve
    ca_point = crypto.decode_point(suite, mine.ca_public_key)
    d1 = crypto.decode_private_key(suite, mine.private_key)
    curve.mul_base(1)  # build the fixed-base table once (as an NCP would at boot)

    sides, steps = [], {k: [] for k in ("keygen", "decompress", "ecqv", "ecmqv", "kdf_macs")}
    for _ in range(n):
        # the partner's ephemeral key, made outside the timed region
        partner_qe = crypto.encode_point(suite, crypto.public_key(suite, crypto.random_scalar(suite, rng)))
        # whole side through the engine, exactly what the emulated NCP runs
        engine = (
            CbkeEngine(mine, rng=rng) if suite_number == 2 else CbkeEngine(None, token_163k1=mine, rng=rng)
        )
        t_gen, _ = _ms(engine.generate_keys, suite_number)
        t_calc, res = _ms(engine.calculate_smacs, suite_number, True, partner.certificate, partner_qe)
        assert res.status == 0
        sides.append(t_gen + t_calc)
        # the same work step by step
        t, d2 = _ms(crypto.random_scalar, suite, rng)
        t2, qe = _ms(crypto.public_key, suite, d2)
        steps["keygen"].append(t + t2)
        t_a, recon = _ms(crypto.reconstruction_point, suite, partner.certificate)
        t_b, peer_qe = _ms(crypto.decode_point, suite, partner_qe)
        steps["decompress"].append(t_a + t_b)
        e = crypto.certificate_hash(partner.certificate)
        t, q1 = _ms(curve.mul_add, e, recon, ca_point)
        steps["ecqv"].append(t)
        t, z = _ms(crypto.ecmqv, suite, d1, d2, qe, q1, peer_qe)
        steps["ecmqv"].append(t)
        own = suite.certificate.decode(mine.certificate).subject
        other = suite.certificate.decode(partner.certificate).subject

        t, _ = _ms(_kdf_macs, suite, z, own, other, crypto.encode_point(suite, qe), partner_qe)
        steps["kdf_macs"].append(t)
    return {
        "n": n,
        "side_ms": statistics.median(sides),
        "min_ms": min(sides),
        "steps_ms": {k: statistics.median(v) for k, v in steps.items()},
    }


def main(n: int = 20) -> None:
    for suite_number, curve in ((2, "sect283k1"), (1, "sect163k1")):
        r = measure(n, suite_number)
        steps = ", ".join(f"{k} {v:.1f}" for k, v in r["steps_ms"].items())
        verdict = f" (target < {TARGET_MS:.0f} ms: {'met' if r['side_ms'] < TARGET_MS else 'MISSED'})"
        print(
            f"cbke suite {suite_number} ({curve}) one full side: {r['side_ms']:.1f} ms median of {r['n']} "
            f"(min {r['min_ms']:.1f}){verdict if suite_number == 2 else ''}; steps (ms): {steps}"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
