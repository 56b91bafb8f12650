#!/usr/bin/env python3
"""Generates Auth0 tenant logs for logbridge's demo, tests and benchmarks: deterministic
by seed, shaped like the `data` of what Auth0's log streams send.

    scripts/gen-auth0-logs.py -n 20000 --seed 7 > logs.ndjson       one bare log per line
    scripts/gen-auth0-logs.py -n 500 --format records > batch.jsonl  {"log_id", "data"} per line (JSONLINES)
    scripts/gen-auth0-logs.py -n 500 --format array > batch.json     one JSON array of records (JSONARRAY)
    scripts/gen-auth0-logs.py -n 300 --edge-cases > odd.ndjson       odd but valid logs mixed in

Standard library only; the same arguments always print the same bytes.
"""

import argparse
import json
import random
import sys
from datetime import datetime, timedelta, timezone

# Log type codes (Auth0's stream categories), with a weight for a plausible tenant's mix.
LOG_TYPES = {
    "login.success": [("s", "Success Login", 300), ("scoa", "Success cross-origin authentication", 8)],
    "login.failure": [
        ("f", "Failed Login", 30),
        ("fp", "Wrong email or password.", 55),
        ("fu", "Invalid email or username", 25),
        ("fcoa", "Failed cross-origin authentication", 4),
    ],
    "logout": [("slo", "Success Logout", 60), ("flo", "Failed Logout", 2)],
    "signup": [("ss", "Success Signup", 30), ("fs", "Failed Signup", 8)],
    "silent.auth": [("ssa", "Success Silent Auth", 20), ("fsa", "Failed Silent Auth", 6)],
    "token.success": [
        ("seacft", "Success Exchange (Authorization Code for Access Token)", 140),
        ("seccft", "Success Exchange (Client Credentials for Access Token)", 80),
        ("sertft", "Success Exchange (Refresh Token for Access Token)", 60),
    ],
    "token.failure": [
        ("feacft", "Failed Exchange (Authorization Code for Access Token)", 8),
        ("feccft", "Failed Exchange (Client Credentials for Access Token)", 6),
        ("fertft", "Failed Exchange (Refresh Token for Access Token)", 6),
    ],
    "management": [
        ("sapi", "Success API Operation", 40),
        ("fapi", "Failed API Operation", 8),
        ("mgmt_api_read", "API GET operation returning secrets completed successfully", 30),
    ],
    "user.change": [("scp", "Success Change Password", 8), ("fcp", "Failed Change Password", 6)],
    "user.verification": [("sv", "Success Verification Email", 8), ("fv", "Failed Verification Email", 3)],
    "system": [
        ("limit_wc", "Blocked Account", 5),
        ("limit_mu", "Blocked IP Address", 4),
        ("api_limit", "Rate Limit on API", 3),
        ("pwd_leak", "Breached password", 3),
    ],
    "mfa": [("gd_auth_succeed", "OTP Auth success", 15), ("gd_auth_failed", "OTP Auth failed", 5)],
    "other": [("du", "Deleted User", 4), ("w", "Warning", 4), ("depnote", "Deprecation Notice", 2)],
}
TYPES = [(code, text, weight, category) for category, codes in LOG_TYPES.items() for code, text, weight in codes]
WEIGHTS = [t[2] for t in TYPES]

# name, strategy, strategy type
CONNECTIONS = [
    ("Username-Password-Authentication", "auth0", "database"),
    ("google-oauth2", "google-oauth2", "social"),
    ("windowslive", "windowslive", "social"),
    ("corp-okta", "okta", "enterprise"),
    ("sms", "sms", "passwordless"),
]
# name, application type
APPLICATIONS = [("Storefront", "spa"), ("Storefront Android", "native"), ("Orders API worker", "non_interactive"), ("Back Office", "regular_web")]
USER_AGENTS = [
    "Chrome 131.0.0 / Windows 10.0.0",
    "Edge 130.0.0 / Windows 11.0.0",
    "Mobile Safari 18.1.0 / iOS 18.1.0",
    "Chrome Mobile 131.0.0 / Android 15.0.0",
    "okhttp 4.12.0 / Other 0.0.0",
]
# country code, country, city, time zone, latitude, longitude
PLACES = [
    ("CA", "Canada", "Toronto", "America/Toronto", 43.65, -79.38),
    ("FR", "France", "Lyon", "Europe/Paris", 45.76, 4.84),
    ("AU", "Australia", "Melbourne", "Australia/Melbourne", -37.81, 144.96),
    ("KE", "Kenya", "Nairobi", "Africa/Nairobi", -1.29, 36.82),
    ("MX", "Mexico", "Monterrey", "America/Monterrey", 25.69, -100.32),
]
FAILURES = {"f", "fp", "fu", "fcoa", "flo", "fs", "fsa", "feacft", "feccft", "fertft", "fapi", "fcp", "fv", "gd_auth_failed"}
MANAGEMENT = {"sapi", "fapi", "mgmt_api_read"}

HEX = "0123456789abcdef"
ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def token(rng, length, alphabet=HEX):
    return "".join(rng.choice(alphabet) for _ in range(length))


def address(rng):
    """Mostly IPv4 from the documentation ranges, sometimes IPv6."""
    if rng.random() < 0.2:
        return "2001:db8:%x:%x:%x::%x" % tuple(rng.randrange(1, 65536) for _ in range(4))
    first = rng.choice(["192.0.2", "198.51.100", "203.0.113"])
    return "%s.%d" % (first, rng.randrange(1, 255))


def millis(moment):
    return int(moment.timestamp() * 1000)


def make_log(rng, n, start, tenant, edge_cases):
    code, text, _, category = rng.choices(TYPES, weights=WEIGHTS)[0]
    moment = start + timedelta(milliseconds=n * 29 + rng.randrange(29))
    connection, strategy, strategy_type = rng.choice(CONNECTIONS)
    application, app_type = rng.choice(APPLICATIONS)
    country, country_name, city, zone, lat, lon = rng.choice(PLACES)
    log_id = "900%s%s" % (moment.strftime("%Y%m%d%H%M%S%f")[:17], token(rng, 35, "0123456789"))
    log = {
        "date": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "type": code,
        "description": text,
        "connection": connection,
        "connection_id": "con_" + token(rng, 16, ALNUM),
        "client_id": token(rng, 32, ALNUM),
        "client_name": application,
        "ip": address(rng),
        "user_agent": rng.choice(USER_AGENTS),
        "hostname": "%s.eu.auth0.com" % tenant,
        "user_id": "%s|%s" % (strategy, token(rng, 24)),
        "user_name": "%s.%d@example.org" % (rng.choice(["ana", "bo", "chen", "dara", "eli"]), rng.randrange(50000)),
        "strategy": strategy,
        "strategy_type": strategy_type,
        "audience": "https://orders.example.org/api",
        "scope": rng.choice(["openid profile", "openid email offline_access", "read:orders"]),
        "is_mobile": app_type == "native",
        "details": {
            "initiatedAt": millis(moment),
            "completedAt": millis(moment) + rng.randrange(20, 700),
            "session_id": token(rng, 32, ALNUM),
            "stats": {"loginsCount": rng.randrange(1, 900)},
            "category": category,
            "prompts": [{"name": "login-id", "elapsedTime": rng.randrange(20, 700), "flow": "universal-login"}],
        },
        "location_info": {
            "country_code": country,
            "country_name": country_name,
            "city_name": city,
            "latitude": lat,
            "longitude": lon,
            "time_zone": zone,
        },
        "tenant_name": tenant,
        "environment_name": "production",
        "log_id": log_id,
    }
    if code in FAILURES:
        log["details"]["error"] = {"message": text, "type": "invalid_request"}
    if code in MANAGEMENT:
        log["details"]["request"] = {
            "method": rng.choice(["get", "post", "patch", "delete"]),
            "path": "/api/v2/users/" + token(rng, 24),
            "auth": {"strategy": "jwt", "credentials": {"scopes": ["read:users", "update:users"]}},
        }
        log["details"]["response"] = {"statusCode": 403 if code == "fapi" else 200, "body": {}}
    if edge_cases and rng.random() < 0.25:
        odd(rng, log)
    return log


def odd(rng, log):
    """Makes `log` odd but valid, one way or another."""
    way = rng.randrange(6)
    if way == 0:
        log["description"] = "Ünïcödé ✓ ログイン \u2028 line separator, \"quotes\", \\ backslashes, \t tab"
    elif way == 1:
        log["details"]["attachment"] = "z" * rng.randrange(25_000, 110_000)
    elif way == 2:
        for key in ("user_id", "user_name", "client_name", "location_info", "ip"):
            log.pop(key, None)
    elif way == 3:
        log["details"]["deep"] = {"l1": {"l2": {"l3": {"l4": [0, -1.25, 6.02e23, None, False, {"l5": {}}]}}}}
    elif way == 4:
        log["ip"] = None
        log["user_name"] = ""
    else:
        log["details"]["limits"] = {"max": 9223372036854775807, "min": -9223372036854775808, "ratio": 1e-300}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1000, help="how many logs (default 1000)")
    parser.add_argument("--seed", type=int, default=1, help="the same seed gives the same logs")
    parser.add_argument("--tenant", default="northwind")
    parser.add_argument("--start", default="2026-11-02T08:00:00Z", help="time of the first log")
    parser.add_argument("--format", choices=["logs", "records", "array"], default="logs",
                        help="bare logs, {log_id, data} records one per line, or a JSON array of records")
    parser.add_argument("--edge-cases", action="store_true", help="mix in odd but valid logs")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    start = datetime.fromisoformat(args.start.replace("Z", "+00:00")).astimezone(timezone.utc)
    logs = (make_log(rng, n, start, args.tenant, args.edge_cases) for n in range(args.n))
    compact = {"ensure_ascii": False, "separators": (",", ":")}
    out = sys.stdout
    if args.format == "array":
        json.dump([{"log_id": log["log_id"], "data": log} for log in logs], out, **compact)
        out.write("\n")
        return
    for log in logs:
        item = log if args.format == "logs" else {"log_id": log["log_id"], "data": log}
        out.write(json.dumps(item, **compact))
        out.write("\n")


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:
        sys.stderr.close()
