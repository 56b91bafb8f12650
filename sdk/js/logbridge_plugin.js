// Write logbridge plugins in JavaScript (contract `logbridge:plugin@0.2.0`), an ES module.
//
// A plugin is an object (or class instance) with `fields` (the detail fields it reads,
// dotted paths), `envelope` (whether it reads the envelope), `init(config)` and its role's
// method; one line makes it the component's export:
//
//     import { exportFilter } from "./logbridge_plugin.js";
//
//     export const filter = exportFilter(() => ({
//       fields: ["data.type"],
//       envelope: false,
//       init(config) { this.types = config.list("drop_types") ?? ["seacft"]; },
//       filter(event) { return !this.types.includes(event.str("data.type")); },
//     }));
//
// `scripts/build-py-js-plugins.sh` builds it with componentize-js (the plugin and this
// module are bundled into one file first: componentize-js takes a single module). This
// module answers the contract's `init` with the manifest (read after your `init`, so
// `fields` may depend on the configuration), fails the load on a configuration key your
// `init` did not read, and turns anything thrown into the contract's `err`: the message
// reaches the failure log's row for the event. Throw `PluginError` for a message of your
// own, shown as it is; any other error shows as `"Name: message"`.

import { log as hostLog } from "logbridge:plugin/log@0.2.0";

/** A plugin's own refusal: its message reaches the failure log as written. */
export class PluginError extends Error {
  constructor(message) {
    super(message);
    this.name = "PluginError";
  }
}

/** What is wrong with one configuration key; the message names it. */
export class ConfigError extends PluginError {
  constructor(key, message) {
    super(`config key \`${key}\`: ${message}`);
    this.name = "ConfigError";
    this.key = key;
  }
}

/** A field that cannot be read: not declared, so the host does not hand it over. */
export class FieldError extends PluginError {
  constructor(field, message) {
    super(`field \`${field}\`: ${message}`);
    this.name = "FieldError";
    this.field = field;
  }
}

// --- logging ---------------------------------------------------------------------------

/** Writes to the host's log, tagged with the plugin's name. */
export const log = {
  debug: (message) => hostLog("debug", String(message)),
  info: (message) => hostLog("info", String(message)),
  warn: (message) => hostLog("warn", String(message)),
  error: (message) => hostLog("error", String(message)),
};

// --- text ------------------------------------------------------------------------------

// Unicode White_Space, what Rust's `str::trim` removes (JavaScript's `trim` also removes
// U+FEFF, which Rust keeps).
const SPACE =
  "[\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]";
const EDGES = new RegExp(`^${SPACE}+|${SPACE}+$`, "g");

/** `text` without leading and trailing whitespace, exactly as Rust's `str::trim` (and so
 * the Rust SDK) trims it. */
export function trim(text) {
  return text.replace(EDGES, "");
}

// A lone surrogate (JSON allows `\ud800`) is no text: the Rust SDK reads such a value as
// "not a string".
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

// --- configuration ---------------------------------------------------------------------

/** The plugin's configuration: the `[config]` pairs of its sidecar, every value a string.
 * Every key must be read by `init`; a key no one read fails the load, naming it. */
export class Config {
  constructor(pairs) {
    this._pairs = pairs.map(([k, v]) => [k, v]);
    this._read = [];
    this._readAll = false;
  }

  /** The value of `key` as written, or `fallback` (undefined) when it is not set. */
  get(key, fallback = undefined) {
    if (!this._read.includes(key)) this._read.push(key);
    for (let i = this._pairs.length - 1; i >= 0; i--) {
      if (this._pairs[i][0] === key) return this._pairs[i][1];
    }
    return fallback;
  }

  /** The value of `key`; a ConfigError naming it when it is not set. */
  required(key) {
    const value = this.get(key);
    if (value === undefined) {
      throw new ConfigError(key, "is required; set it in the sidecar's [config]");
    }
    return value;
  }

  /** The value of `key` as an integer (surrounding spaces allowed), or `fallback`; a
   * ConfigError quoting the value when it is no integer. */
  parseInt(key, fallback = undefined) {
    const value = this.get(key);
    if (value === undefined) return fallback;
    const digits = trim(value);
    if (!/^[+-]?[0-9]+$/.test(digits) || !Number.isSafeInteger(Number(digits))) {
      throw new ConfigError(key, `\`${value}\` is not a valid integer`);
    }
    return Number(digits);
  }

  /** The value of `key` as a comma-separated list, items trimmed and empty ones left out,
   * or `fallback` when it is not set. */
  list(key, fallback = undefined) {
    const value = this.get(key);
    if (value === undefined) return fallback;
    return value
      .split(",")
      .map(trim)
      .filter((item) => item !== "");
  }

  /** Every [key, value] pair in the sidecar's order; counts every key as read. */
  pairs() {
    this._readAll = true;
    return this._pairs.map(([k, v]) => [k, v]);
  }

  /** Throws a ConfigError for the first key that was not read. */
  finish() {
    if (this._readAll) return;
    for (const [key] of this._pairs) {
      if (this._read.includes(key)) continue;
      if (this._read.length === 0) {
        throw new ConfigError(key, "is unknown; this plugin takes no configuration");
      }
      const known = this._read.map((k) => `\`${k}\``).join(", ");
      throw new ConfigError(key, `is unknown; this plugin reads ${known}`);
    }
  }
}

// --- events ----------------------------------------------------------------------------

const ABSENT = Symbol("absent");
const hasOwn = Object.prototype.hasOwnProperty;

// JSON text to values, as JSON.parse does, except that a repeated key keeps its first
// value (JSON.parse keeps the last), as the host's own reading of the detail does.
// Strings and numbers are decoded by JSON.parse; throws a SyntaxError on bad JSON.
const SPACE_RE = /[ \t\n\r]*/y;
const NUMBER_RE = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const STRING_RE = /"[^"\\]*(?:\\.[^"\\]*)*"/y;

// At least as many as the object members in JSON text, repeated keys counted each time:
// every `"` followed by a colon (every key ends so; a string holding `\":` adds one more).
function keysAtMost(text) {
  let keys = 0;
  for (let at = text.indexOf('"'); at !== -1; at = text.indexOf('"', at + 1)) {
    let next = at + 1;
    while (next < text.length && " \t\n\r".includes(text[next])) next += 1;
    if (text[next] === ":") keys += 1;
  }
  return keys;
}

// How many object members a parsed value has.
function keysInValue(value) {
  if (value === null || typeof value !== "object") return 0;
  let keys = 0;
  if (Array.isArray(value)) {
    for (const item of value) keys += keysInValue(item);
    return keys;
  }
  for (const key in value) keys += 1 + keysInValue(value[key]);
  return keys;
}

export function parseJson(text) {
  let at = 0;
  const space = () => {
    SPACE_RE.lastIndex = at;
    SPACE_RE.exec(text);
    at = SPACE_RE.lastIndex;
  };
  const token = (re) => {
    re.lastIndex = at;
    const m = re.exec(text);
    if (m === null) throw new SyntaxError(`bad JSON at ${at}`);
    at = re.lastIndex;
    return m[0];
  };
  const literal = (word, value) => {
    if (!text.startsWith(word, at)) throw new SyntaxError(`bad JSON at ${at}`);
    at += word.length;
    return value;
  };
  const expect = (c) => {
    space();
    if (text[at] !== c) throw new SyntaxError(`bad JSON at ${at}: expected ${c}`);
    at += 1;
  };
  const value = () => {
    space();
    const c = text[at];
    if (c === "{") {
      at += 1;
      const obj = {};
      space();
      if (text[at] === "}") {
        at += 1;
        return obj;
      }
      for (;;) {
        space();
        const key = JSON.parse(token(STRING_RE));
        expect(":");
        const v = value();
        if (!hasOwn.call(obj, key)) {
          Object.defineProperty(obj, key, { value: v, enumerable: true, writable: true, configurable: true });
        }
        space();
        if (text[at] === ",") {
          at += 1;
          continue;
        }
        expect("}");
        return obj;
      }
    }
    if (c === "[") {
      at += 1;
      const arr = [];
      space();
      if (text[at] === "]") {
        at += 1;
        return arr;
      }
      for (;;) {
        arr.push(value());
        space();
        if (text[at] === ",") {
          at += 1;
          continue;
        }
        expect("]");
        return arr;
      }
    }
    if (c === '"') return JSON.parse(token(STRING_RE));
    if (c === "t") return literal("true", true);
    if (c === "f") return literal("false", false);
    if (c === "n") return literal("null", null);
    return JSON.parse(token(NUMBER_RE));
  };
  const result = value();
  space();
  if (at !== text.length) throw new SyntaxError(`bad JSON at ${at}: trailing text`);
  return result;
}

/** One event: its detail (only the declared fields, on their paths, when the plugin
 * declared any) and its envelope (when the plugin asked for it). */
export class Event {
  constructor(detail, envelope, declared = []) {
    /** The detail as JSON text. */
    this.detail = detail;
    /** The envelope `{ id, source, detailType, time, resources }`, or undefined. */
    this.envelope = envelope ?? undefined;
    this._declared = declared;
    this._parsed = ABSENT;
  }

  _check(field) {
    if (this._declared.length === 0) return;
    for (const d of this._declared) {
      if (d === field || field.startsWith(d + ".") || d.startsWith(field + ".")) return;
    }
    throw new FieldError(
      field,
      "not declared, so the host does not hand it over; add it to `fields` " +
        `(declared: ${this._declared.join(", ")})`,
    );
  }

  /** The (declared part of the) detail as JavaScript values; null when it is not JSON. */
  parsed() {
    if (this._parsed === ABSENT) {
      try {
        this._parsed = JSON.parse(this.detail);
        // JSON.parse keeps the last of repeated keys; the rare detail that has some is
        // read again, keeping the first.
        if (keysAtMost(this.detail) !== keysInValue(this._parsed)) {
          this._parsed = parseJson(this.detail);
        }
      } catch {
        this._parsed = null;
      }
    }
    return this._parsed;
  }

  _lookup(field) {
    let at = this.parsed();
    for (const key of field.split(".")) {
      if (at === null || typeof at !== "object" || Array.isArray(at) || !hasOwn.call(at, key)) {
        return ABSENT;
      }
      at = at[key];
    }
    return at;
  }

  /** Whether the detail has dotted `field`, with any value (`null` included). */
  has(field) {
    this._check(field);
    return this._lookup(field) !== ABSENT;
  }

  /** The value at dotted `field` (object, array, string, number, boolean or null), or
   * `fallback` (undefined) when the detail lacks it. */
  get(field, fallback = undefined) {
    this._check(field);
    const value = this._lookup(field);
    return value === ABSENT ? fallback : value;
  }

  /** The string at dotted `field`; undefined when the detail lacks it or its value is not
   * a string. */
  str(field) {
    const value = this.get(field);
    return typeof value === "string" && !LONE_SURROGATE.test(value) ? value : undefined;
  }
}

// --- answers ---------------------------------------------------------------------------

/** What a transformer changes: edits of the detail, applied in order, and optionally a new
 * envelope. Fields not named keep their bytes. `new Edits()` changes nothing. */
export class Edits {
  constructor() {
    /** The edits so far: `{ field, value }`, value the new JSON text or undefined. */
    this.edits = [];
    /** The new envelope, or undefined to keep it. */
    this.envelope = undefined;
  }

  /** Sets dotted `field` to `value`, written as JSON (added when the detail lacks it). */
  set(field, value) {
    const json = JSON.stringify(value);
    if (json === undefined) {
      throw new PluginError(`the new value of \`${field}\` does not serialize as JSON`);
    }
    this.edits.push({ field, value: json });
    return this;
  }

  /** Sets dotted `field` to `text`, JSON written by the plugin. */
  setJson(field, text) {
    this.edits.push({ field, value: text });
    return this;
  }

  /** Removes dotted `field` (nothing happens when the detail lacks it). */
  remove(field) {
    this.edits.push({ field, value: undefined });
    return this;
  }

  /** Replaces the whole envelope `{ id, source, detailType, time, resources }`. */
  replaceEnvelope(envelope) {
    this.envelope = envelope;
    return this;
  }
}

/** A destination on `bus` (`""`: the host's default bus), optionally with its own source
 * and detail-type. */
export function to(bus, { source, detailType } = {}) {
  return { bus, source, detailType };
}

// --- export glue -----------------------------------------------------------------------

function message(e) {
  if (e instanceof PluginError) return e.message;
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return String(e);
}

// Runs `f`; anything thrown becomes a thrown string, which componentize-js answers as
// the contract's `err`.
function guarded(f) {
  try {
    return f();
  } catch (e) {
    throw message(e);
  }
}

function role(make, method, answer) {
  let plugin;
  let declared = [];
  return {
    init(pairs) {
      if (plugin !== undefined) throw "init was called twice on one instance";
      return guarded(() => {
        const made = make();
        const config = new Config(pairs);
        made.init(config);
        config.finish();
        const fields = Array.from(made.fields ?? [], String);
        const envelope = Boolean(made.envelope);
        plugin = made;
        declared = fields;
        return { fields, envelope };
      });
    },
    [method](wire) {
      if (plugin === undefined) throw "called before init";
      return guarded(() => answer(plugin[method](new Event(wire.detail, wire.envelope, declared))));
    },
  };
}

function transformed(edits) {
  if (edits === undefined || edits === null) return { edits: [], envelope: undefined };
  return { edits: edits.edits, envelope: edits.envelope };
}

function destinations(answer) {
  return Array.from(answer ?? [], (d) => (typeof d === "string" ? to(d) : d));
}

/** The `filter` export componentize-js wants, driving the plugin `make()` returns (called
 * once, before `init(config)`); `filter(event)` answers true to keep. */
export function exportFilter(make) {
  return role(make, "filter", Boolean);
}

/** The `transformer` export, driving the plugin `make()` returns; `transform(event)`
 * answers an `Edits` (or undefined for no change). */
export function exportTransformer(make) {
  return role(make, "transform", transformed);
}

/** The `router` export, driving the plugin `make()` returns; `route(event)` answers a list
 * of destinations (`to(bus)`, or bus names); an empty list means the default bus. */
export function exportRouter(make) {
  return role(make, "route", destinations);
}
