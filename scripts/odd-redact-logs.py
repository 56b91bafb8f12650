#!/usr/bin/env python3
"""Prints NDJSON Auth0 logs whose `ip`, `user_name` and `type` are the odd values a
redactor or router written in another language can get wrong: addresses Rust's parser
refuses or writes its own way, whitespace Rust trims, non-strings, escapes, lone
surrogates, and records without a `data` object. Deterministic (seeded).
Usage: scripts/odd-redact-logs.py [COUNT] [SEED]"""

import json
import random
import sys

count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 11)

IPS = [
    "203.0.113.77", "0.0.0.0", "255.255.255.255", "256.1.1.1", "01.2.3.4", "1.2.3", "1.2.3.4.5",
    "1.2.3.04", "1.2.3.4 ", " 1.2.3.4", "\t1.2.3.4\n", "\u00a01.2.3.4", "\u30001.2.3.4",
    "\ufeff1.2.3.4", "\x1c1.2.3.4", "\u200b1.2.3.4", "1.2.3.4%eth0", "fe80::1%eth0",
    "[::1]", "::", "::1", "1::", "::ffff:1.2.3.4", "::ffff:102:304", "::1.2.3.4",
    "1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:7:1.2.3.4", "1.2.3.4::", "2001:DB8:ABCD:12::1",
    "2001:db8::", "2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8:0:0:1::", "0:0:1::",
    "0:1:0::", "1:0:0:1::", "12345::", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9", ":::",
    "1:::2", "::1::", ":1::", "1::2:", "2001:db8:4aef:6d2e::e211", "00000::1", "0000::1",
    "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8", "1:2:3:4:5:6::8", "ffff::", "FFFF:FFFF:FFFF::",
    "1.2.3.4\u0085", "+1.2.3.4", "1.2.3.-4", "１.2.3.4", "1.2.3.4/24", "", " ", "localhost",
    "unknown", "1e3::", "g::", "::ffff:0.0.0.0", "::ffff:255.255.255.255", "0:0:0:0:0:ffff::",
]
NON_STRINGS = [None, 12, 1.5, True, False, [], ["1.2.3.4"], {}, {"ip": "1.2.3.4"}]
NAMES = [
    "jane.doe@example.com", "jane", "@example.com", "jane@", "a@b@c.org", "\"quoted\"@x.io",
    "tab\t@x.io", "ctl\x01\x1f@x.io", "uni\u00e9@exämple.com", "x@\u2028line", "x@\ud83d\ude00",
    "lone\ud800@x.io", "x@lone\udc00", "back\\slash@x.io", "del\x7f@x.io", "", None, 42,
    ["a@b"], {"a": "b@c"},
]
TYPES = ["s", "f", "sapi", "fapi", "seacft", "mgmt_api_read", "limit_wc", "ssa", 7, None, "",
         " f", "F"]


def log(i):
    data = {"date": f"2026-11-02T08:{i // 60 % 60:02d}:{i % 60:02d}Z", "type": rng.choice(TYPES)}
    if rng.random() < 0.9:
        data["ip"] = rng.choice(IPS) if rng.random() < 0.85 else rng.choice(NON_STRINGS)
    if rng.random() < 0.8:
        data["user_name"] = rng.choice(NAMES)
    keys = list(data)
    rng.shuffle(keys)
    data = {k: data[k] for k in keys}
    return {"log_id": f"odd-{i}", "data": data}


def text(record):
    """The record as JSON, non-ASCII written raw or escaped at random; lone surrogates
    always escaped (raw, they are no UTF-8). Now and then a key of `data` comes twice (the
    first one counts, for the host and the Rust SDK)."""
    ascii_only = rng.random() < 0.5
    try:
        json.dumps(record, ensure_ascii=ascii_only).encode("utf-8")
    except UnicodeEncodeError:
        ascii_only = True
    if rng.random() < 0.08:
        key = rng.choice(["ip", "user_name", "type"])
        again = rng.choice(IPS if key == "ip" else NAMES if key == "user_name" else TYPES)
        pairs = list(record["data"].items())
        pairs.insert(rng.randrange(len(pairs) + 1), (key, again))
        data = "{" + ", ".join(
            json.dumps(k) + ": " + json.dumps(v, ensure_ascii=True) for k, v in pairs
        ) + "}"
        return json.dumps({"log_id": record["log_id"]})[:-1] + ', "data": ' + data + "}"
    return json.dumps(record, ensure_ascii=ascii_only)


out = []
for i in range(count):
    r = rng.random()
    if r < 0.02:
        out.append(json.dumps({"log_id": f"odd-{i}", "data": rng.choice([5, "s", [1], None])}))
    elif r < 0.04:
        out.append(json.dumps({"log_id": f"odd-{i}"}))
    else:
        out.append(text(log(i)))
sys.stdout.write("".join(line + "\n" for line in out))
