// `20-redact` in JavaScript: a logbridge transformer that masks personal data in Auth0
// logs, with exactly the output of the Rust plugin.
//
// - `data.user_name`: when it is an e-mail address, the local part becomes `***`
//   (`jane.doe@example.com` -> `***@example.com`); other user names are kept.
// - `data.ip`: the last octet of an IPv4 address becomes `0` (`203.0.113.77` ->
//   `203.0.113.0`); the last 80 bits of an IPv6 address become zero, keeping the /48
//   (`2001:db8:4aef:6d2e::e211` -> `2001:db8:4aef::`). A value that is not an IP address
//   is removed, since it cannot be masked safely; `null` is left as it is.
//
// An event whose detail has no `data` object is refused with an error, which sends it to
// the failure log rather than letting it through unredacted.
//
// JavaScript has no IP address parser: the one below is Rust's `std::net` parser
// (library/core/src/net/parser.rs) step by step, and the writer is Rust's `Ipv6Addr`
// Display, so the bytes match.

import { Edits, PluginError, exportTransformer, log, trim } from "../../../sdk/js/logbridge_plugin.js";

/** `***@domain` for an e-mail address; undefined when `name` is not one. */
export function maskEmail(name) {
  const at = name.lastIndexOf("@");
  if (at <= 0 || at === name.length - 1) return undefined;
  return `***@${name.slice(at + 1)}`;
}

const DEC = "0123456789";
const HEX = "0123456789abcdefABCDEF";

class Parser {
  constructor(s) {
    this.s = s;
    this.i = 0;
  }

  // Runs `f`; when it answers undefined, nothing was consumed.
  atomically(f) {
    const start = this.i;
    const result = f();
    if (result === undefined) this.i = start;
    return result;
  }

  char(c) {
    if (this.s[this.i] === c) {
      this.i += 1;
      return true;
    }
    return false;
  }

  number(radix, maxDigits, allowZeroPrefix, limit) {
    return this.atomically(() => {
      const digits = radix === 10 ? DEC : HEX;
      const leadingZero = this.s[this.i] === "0";
      let value = 0;
      let count = 0;
      while (this.i < this.s.length && digits.includes(this.s[this.i])) {
        value = value * radix + parseInt(this.s[this.i], radix);
        this.i += 1;
        count += 1;
        if (value > limit || count > maxDigits) return undefined;
      }
      if (count === 0 || (!allowZeroPrefix && leadingZero && count > 1)) return undefined;
      return value;
    });
  }

  separated(sep, index, inner) {
    return this.atomically(() => {
      if (index > 0 && !this.char(sep)) return undefined;
      return inner();
    });
  }

  ipv4() {
    return this.atomically(() => {
      const octets = [];
      for (let i = 0; i < 4; i++) {
        const octet = this.separated(".", i, () => this.number(10, 3, false, 255));
        if (octet === undefined) return undefined;
        octets.push(octet);
      }
      return octets;
    });
  }

  // Reads up to `limit` groups into `groups`; answers [count, ended in IPv4].
  groups(groups, limit) {
    for (let i = 0; i < limit; i++) {
      if (i < limit - 1) {
        const v4 = this.separated(":", i, () => this.ipv4());
        if (v4 !== undefined) {
          groups[i] = (v4[0] << 8) | v4[1];
          groups[i + 1] = (v4[2] << 8) | v4[3];
          return [i + 2, true];
        }
      }
      const group = this.separated(":", i, () => this.number(16, 4, true, 0xffff));
      if (group === undefined) return [i, false];
      groups[i] = group;
    }
    return [limit, false];
  }

  ipv6() {
    return this.atomically(() => {
      const head = new Array(8).fill(0);
      const [headSize, headV4] = this.groups(head, 8);
      if (headSize === 8) return head;
      if (headV4 || !this.char(":") || !this.char(":")) return undefined;
      const tail = new Array(7).fill(0);
      const [tailSize] = this.groups(tail, 8 - (headSize + 1));
      for (let k = 0; k < tailSize; k++) head[8 - tailSize + k] = tail[k];
      return head;
    });
  }
}

/** `{ v4: [4 octets] }` or `{ v6: [8 groups] }` as Rust's `IpAddr::from_str` reads
 * `text`; undefined when Rust refuses it. */
export function parseIp(text) {
  const p = new Parser(text);
  const v4 = p.ipv4();
  if (v4 !== undefined) return p.i === text.length ? { v4 } : undefined;
  const v6 = p.ipv6();
  if (v6 !== undefined && p.i === text.length) return { v6 };
  return undefined;
}

/** `groups` as Rust's `Ipv6Addr` Display writes them: RFC 5952 (the first longest run of
 * two or more zero groups becomes `::`, lowercase hex), IPv4-mapped as `::ffff:a.b.c.d`. */
export function formatIpv6(groups) {
  if (groups.slice(0, 6).every((g, i) => g === (i === 5 ? 0xffff : 0))) {
    const [g6, g7] = [groups[6], groups[7]];
    return `::ffff:${g6 >> 8}.${g6 & 0xff}.${g7 >> 8}.${g7 & 0xff}`;
  }
  let [start, length, curStart, curLen] = [0, 0, 0, 0];
  groups.forEach((g, i) => {
    if (g === 0) {
      if (curLen === 0) curStart = i;
      curLen += 1;
      if (curLen > length) [start, length] = [curStart, curLen];
    } else {
      curLen = 0;
    }
  });
  const hex = groups.map((g) => g.toString(16));
  if (length > 1) {
    return `${hex.slice(0, start).join(":")}::${hex.slice(start + length).join(":")}`;
  }
  return hex.join(":");
}

/** The address with its host part zeroed (IPv4 /24, IPv6 /48); undefined when `ip` is
 * not an IP address. */
export function maskIp(ip) {
  const parsed = parseIp(trim(ip));
  if (parsed === undefined) return undefined;
  if (parsed.v4) {
    const [a, b, c] = parsed.v4;
    return `${a}.${b}.${c}.0`;
  }
  return formatIpv6([...parsed.v6.slice(0, 3), 0, 0, 0, 0, 0]);
}

const NO_DATA =
  'detail has no `data` object; expected an Auth0 log record {"log_id": ..., "data": {...}}';

export const transformer = exportTransformer(() => ({
  fields: ["data.user_name", "data.ip"],
  envelope: false,

  init() {},

  transform(event) {
    const data = event.get("data");
    if (data === null || typeof data !== "object" || Array.isArray(data)) {
      throw new PluginError(NO_DATA);
    }
    const edits = new Edits();
    const name = event.str("data.user_name");
    if (name !== undefined) {
      const masked = maskEmail(name);
      if (masked !== undefined) edits.set("data.user_name", masked);
    }
    // `null` is no address to leak: left as it is, like an absent one.
    const ip = event.get("data.ip");
    if (ip !== undefined && ip !== null) {
      const text = event.str("data.ip");
      const masked = text === undefined ? undefined : maskIp(text);
      if (masked !== undefined) {
        edits.set("data.ip", masked);
      } else {
        log.warn(
          typeof ip === "string"
            ? "removed an `ip` value that is not an IP address"
            : "removed an `ip` value that is not a string",
        );
        edits.remove("data.ip");
      }
    }
    return edits;
  },
}));
