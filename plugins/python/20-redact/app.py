"""`20-redact` in Python: a logbridge transformer that masks personal data in Auth0 logs,
with exactly the output of the Rust plugin.

- `data.user_name`: when it is an e-mail address, the local part becomes `***`
  (`jane.doe@example.com` -> `***@example.com`); other user names are kept.
- `data.ip`: the last octet of an IPv4 address becomes `0` (`203.0.113.77` ->
  `203.0.113.0`); the last 80 bits of an IPv6 address become zero, keeping the /48
  (`2001:db8:4aef:6d2e::e211` -> `2001:db8:4aef::`). A value that is not an IP address is
  removed, since it cannot be masked safely; `null` is left as it is.

An event whose detail has no `data` object is refused with an error, which sends it to the
failure log rather than letting it through unredacted.

Addresses are parsed and written as Rust's `std::net` does (Python's `ipaddress` takes
zone ids, `%eth0`, and writes IPv4-mapped addresses differently), so the bytes match.
"""

import logbridge_plugin as lb


def mask_email(name):
    """`***@domain` for an e-mail address; None when `name` is not one."""
    local, at, domain = name.rpartition("@")
    if not at or not local or not domain:
        return None
    return f"***@{domain}"


class _Parser:
    """Rust's `std::net` address parser (library/core/src/net/parser.rs), step by step."""

    __slots__ = ("s", "i")

    def __init__(self, s):
        self.s = s
        self.i = 0

    def atomically(self, f):
        start = self.i
        result = f()
        if result is None:
            self.i = start
        return result

    def char(self, c):
        if self.i < len(self.s) and self.s[self.i] == c:
            self.i += 1
            return True
        return False

    def number(self, radix, max_digits, allow_zero_prefix, limit):
        def read():
            digits = "0123456789" if radix == 10 else "0123456789abcdefABCDEF"
            value = 0
            count = 0
            leading_zero = self.i < len(self.s) and self.s[self.i] == "0"
            while self.i < len(self.s) and self.s[self.i] in digits:
                value = value * radix + int(self.s[self.i], radix)
                self.i += 1
                count += 1
                if value > limit or count > max_digits:
                    return None
            if count == 0 or (not allow_zero_prefix and leading_zero and count > 1):
                return None
            return value

        return self.atomically(read)

    def separated(self, sep, index, inner):
        def read():
            if index > 0 and not self.char(sep):
                return None
            return inner()

        return self.atomically(read)

    def ipv4(self):
        def read():
            octets = []
            for i in range(4):
                octet = self.separated(".", i, lambda: self.number(10, 3, False, 255))
                if octet is None:
                    return None
                octets.append(octet)
            return octets

        return self.atomically(read)

    def groups(self, groups, limit):
        """Reads up to `limit` groups into `groups`; answers (count, ended in IPv4)."""
        for i in range(limit):
            if i < limit - 1:
                v4 = self.separated(":", i, self.ipv4)
                if v4 is not None:
                    groups[i] = v4[0] << 8 | v4[1]
                    groups[i + 1] = v4[2] << 8 | v4[3]
                    return i + 2, True
            group = self.separated(":", i, lambda: self.number(16, 4, True, 0xFFFF))
            if group is None:
                return i, False
            groups[i] = group
        return limit, False

    def ipv6(self):
        def read():
            head = [0] * 8
            head_size, head_v4 = self.groups(head, 8)
            if head_size == 8:
                return head
            if head_v4 or not self.char(":") or not self.char(":"):
                return None
            tail = [0] * 7
            tail_size, _ = self.groups(tail, 8 - (head_size + 1))
            head[8 - tail_size:] = tail[:tail_size]
            return head

        return self.atomically(read)


def parse_ip(text):
    """("v4", 4 octets) or ("v6", 8 groups) as Rust's `IpAddr::from_str` reads `text`;
    None when Rust refuses it."""
    p = _Parser(text)
    v4 = p.ipv4()
    if v4 is not None:
        return ("v4", v4) if p.i == len(text) else None
    v6 = p.ipv6()
    if v6 is not None and p.i == len(text):
        return ("v6", v6)
    return None


def format_ipv6(groups):
    """`groups` as Rust's `Ipv6Addr` Display writes them: RFC 5952 (the first longest run
    of two or more zero groups becomes `::`, lowercase hex), IPv4-mapped as
    `::ffff:a.b.c.d`."""
    if groups[:6] == [0, 0, 0, 0, 0, 0xFFFF]:
        g6, g7 = groups[6], groups[7]
        return f"::ffff:{g6 >> 8}.{g6 & 0xFF}.{g7 >> 8}.{g7 & 0xFF}"
    start, length, cur_start, cur_len = 0, 0, 0, 0
    for i, g in enumerate(groups):
        if g == 0:
            if cur_len == 0:
                cur_start = i
            cur_len += 1
            if cur_len > length:
                start, length = cur_start, cur_len
        else:
            cur_len = 0
    hexes = [format(g, "x") for g in groups]
    if length > 1:
        return ":".join(hexes[:start]) + "::" + ":".join(hexes[start + length:])
    return ":".join(hexes)


def mask_ip(ip):
    """The address with its host part zeroed (IPv4 /24, IPv6 /48); None when `ip` is not
    an IP address."""
    parsed = parse_ip(lb.trim(ip))
    if parsed is None:
        return None
    kind, parts = parsed
    if kind == "v4":
        return f"{parts[0]}.{parts[1]}.{parts[2]}.0"
    return format_ipv6(parts[:3] + [0] * 5)


NO_DATA = (
    'detail has no `data` object; expected an Auth0 log record {"log_id": ..., "data": {...}}'
)


class Redact:
    fields = ["data.user_name", "data.ip"]
    envelope = False

    def init(self, config):
        pass

    def transform(self, event):
        if not isinstance(event.get("data"), dict):
            raise lb.Error(NO_DATA)
        edits = lb.Edits()
        name = event.str("data.user_name")
        if name is not None:
            masked = mask_email(name)
            if masked is not None:
                edits.set("data.user_name", masked)
        # `null` is no address to leak: left as it is, like an absent one.
        ip = event.get("data.ip")
        if ip is not None:
            masked = mask_ip(ip) if event.str("data.ip") is not None else None
            if masked is not None:
                edits.set("data.ip", masked)
            else:
                lb.warn(
                    "removed an `ip` value that is not an IP address"
                    if isinstance(ip, str)
                    else "removed an `ip` value that is not a string"
                )
                edits.remove("data.ip")
        return edits


Transformer = lb.export_transformer(Redact)
