"""Write logbridge plugins in Python (contract ``logbridge:plugin@0.2.0``).

A plugin is a class with ``fields`` (the detail fields it reads, dotted paths),
``envelope`` (whether it reads the envelope), ``init(self, config)`` and its role's method;
one line makes it the component's export::

    import logbridge_plugin as lb

    class DropNoise:
        fields = ["data.type"]
        envelope = False

        def init(self, config):
            self.types = config.list("drop_types") or ["seacft"]

        def filter(self, event):
            return event.str("data.type") not in self.types

    Filter = lb.export_filter(DropNoise)

Build it with ``componentize-py -d wit -w filter-plugin componentize app -p . -p sdk/python
-o 15-drop.wasm`` (``scripts/build-py-js-plugins.sh`` shows the whole command). This module
answers the contract's ``init`` with the manifest (read after your ``init``, so ``fields``
may depend on the configuration), fails the load on a configuration key your ``init`` did
not read, and turns any exception into the contract's ``err``: the message reaches the
failure log's row for the event. Raise :class:`Error` for a message of your own,
shown as it is; any other exception shows as ``"TypeName: message"``.
"""

import json

from componentize_py_types import Err
from wit_world.imports import log as _log
from wit_world.imports import types

__all__ = [
    "Config",
    "ConfigError",
    "Edits",
    "Error",
    "Event",
    "FieldError",
    "debug",
    "error",
    "export_filter",
    "export_router",
    "export_transformer",
    "info",
    "to",
    "trim",
    "warn",
]


class Error(Exception):
    """A plugin's own refusal: its message reaches the failure log (or the operator, from
    ``init``) exactly as written."""


class ConfigError(Error):
    """What is wrong with one configuration key; the message names it, so an operator knows
    which line of the sidecar to fix."""

    def __init__(self, key, message):
        self.key = key
        super().__init__(f"config key `{key}`: {message}")


class FieldError(Error):
    """A field that cannot be read: it was not declared, so the host does not hand it over."""

    def __init__(self, field, message):
        self.field = field
        super().__init__(f"field `{field}`: {message}")


# --- logging ---------------------------------------------------------------------------


def debug(message):
    """Logs ``message`` at debug level to the host's log, tagged with the plugin's name."""
    _log.log(_log.Level.DEBUG, message)


def info(message):
    """Logs ``message`` at info level."""
    _log.log(_log.Level.INFO, message)


def warn(message):
    """Logs ``message`` at warn level."""
    _log.log(_log.Level.WARN, message)


def error(message):
    """Logs ``message`` at error level."""
    _log.log(_log.Level.ERROR, message)


# --- text ----------------------------------------------------------------------------

# Unicode White_Space, what Rust's `str::trim` removes (Python's `str.strip` also removes
# U+001C..U+001F, which Rust keeps).
_SPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def trim(text):
    """``text`` without leading and trailing whitespace, exactly as Rust's ``str::trim``
    (and so the Rust SDK) trims it."""
    return text.strip(_SPACE)


# --- configuration ---------------------------------------------------------------------


class Config:
    """The plugin's configuration: the ``[config]`` pairs of its sidecar, every value a
    string. Every key must be read by ``init`` (through any method here); a key no one read
    fails the load, naming it and the keys the plugin reads."""

    def __init__(self, pairs):
        self._pairs = [(k, v) for k, v in pairs]
        self._read = []
        self._read_all = False

    def get(self, key, default=None):
        """The value of ``key`` as written, or ``default`` when it is not set."""
        if key not in self._read:
            self._read.append(key)
        for k, v in reversed(self._pairs):
            if k == key:
                return v
        return default

    def required(self, key):
        """The value of ``key``; a :class:`ConfigError` naming it when it is not set."""
        value = self.get(key)
        if value is None:
            raise ConfigError(key, "is required; set it in the sidecar's [config]")
        return value

    def parse_int(self, key, default=None):
        """The value of ``key`` as an integer (surrounding spaces allowed), or ``default``
        when it is not set; a :class:`ConfigError` quoting the value when it is no integer."""
        value = self.get(key)
        if value is None:
            return default
        digits = trim(value)
        if digits[:1] in ("+", "-"):
            digits = digits[1:]
        # Only ASCII digits, like Rust's parser: Python's int() also takes "1_000" and "١٢".
        if not (digits.isascii() and digits.isdigit()):
            raise ConfigError(key, f"`{value}` is not a valid integer")
        return int(trim(value), 10)

    def list(self, key, default=None):
        """The value of ``key`` as a comma-separated list, items trimmed and empty ones
        left out, or ``default`` when it is not set."""
        value = self.get(key)
        if value is None:
            return default
        return [t for t in (trim(item) for item in value.split(",")) if t]

    def pairs(self):
        """Every (key, value) pair in the sidecar's order; counts every key as read."""
        self._read_all = True
        return list(self._pairs)

    def finish(self):
        """Raises a :class:`ConfigError` for the first key that was not read."""
        if self._read_all:
            return
        for key, _ in self._pairs:
            if key not in self._read:
                if not self._read:
                    raise ConfigError(key, "is unknown; this plugin takes no configuration")
                known = ", ".join(f"`{k}`" for k in self._read)
                raise ConfigError(key, f"is unknown; this plugin reads {known}")


# --- events ----------------------------------------------------------------------------

_ABSENT = object()


def _first_wins(pairs):
    # A repeated key keeps its first value, as the host's own reading of the detail does.
    obj = {}
    for k, v in pairs:
        obj.setdefault(k, v)
    return obj


def _well_formed(s):
    # JSON may carry lone surrogates (\ud800); they are no text, and the Rust SDK reads
    # such a value as "not a string".
    try:
        s.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


class Event:
    """One event: its detail (only the declared fields, on their paths, when the plugin
    declared any) and its envelope (when the plugin asked for it)."""

    __slots__ = ("detail", "envelope", "_declared", "_parsed")

    def __init__(self, detail, envelope=None, declared=()):
        #: The detail as JSON text.
        self.detail = detail
        #: The envelope (id, source, detail_type, time, resources), or None.
        self.envelope = envelope
        self._declared = declared
        self._parsed = _ABSENT

    def _check(self, field):
        if not self._declared:
            return
        for d in self._declared:
            if d == field or field.startswith(d + ".") or d.startswith(field + "."):
                return
        raise FieldError(
            field,
            "not declared, so the host does not hand it over; add it to `fields` "
            f"(declared: {', '.join(self._declared)})",
        )

    def parsed(self):
        """The (declared part of the) detail as Python values; None when it is not JSON."""
        if self._parsed is _ABSENT:
            try:
                self._parsed = json.loads(self.detail, object_pairs_hook=_first_wins)
            except ValueError:
                self._parsed = None
        return self._parsed

    def _lookup(self, field):
        at = self.parsed()
        for key in field.split("."):
            if not isinstance(at, dict) or key not in at:
                return _ABSENT
            at = at[key]
        return at

    def has(self, field):
        """Whether the detail has dotted ``field``, with any value (``null`` included)."""
        self._check(field)
        return self._lookup(field) is not _ABSENT

    def get(self, field, default=None):
        """The value at dotted ``field`` (dict, list, str, int, float, bool or None for
        ``null``), or ``default`` when the detail lacks it."""
        self._check(field)
        value = self._lookup(field)
        return default if value is _ABSENT else value

    def str(self, field):
        """The string at dotted ``field``; None when the detail lacks it or its value is not
        a string."""
        value = self.get(field)
        return value if isinstance(value, str) and _well_formed(value) else None


# --- answers ---------------------------------------------------------------------------


def _json(value):
    # What serde_json writes for strings, numbers, bools, null, lists and dicts.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class Edits:
    """What a transformer changes: edits of the detail, applied in order, and optionally a
    new envelope. Fields not named keep their bytes. ``Edits()`` changes nothing."""

    __slots__ = ("edits", "envelope")

    def __init__(self):
        #: The edits so far: (field, new JSON text or None for a removal).
        self.edits = []
        #: The new envelope, or None to keep it.
        self.envelope = None

    def set(self, field, value):
        """Sets dotted ``field`` to ``value``, written as JSON (added when the detail
        lacks it). The field must be declared, or inside a declared one."""
        self.edits.append((field, _json(value)))
        return self

    def set_json(self, field, text):
        """Sets dotted ``field`` to ``text``, JSON written by the plugin."""
        self.edits.append((field, text))
        return self

    def remove(self, field):
        """Removes dotted ``field`` (nothing happens when the detail lacks it)."""
        self.edits.append((field, None))
        return self

    def replace_envelope(self, envelope):
        """Replaces the whole envelope (a ``types.Envelope``)."""
        self.envelope = envelope
        return self


def to(bus, source=None, detail_type=None):
    """A destination on ``bus`` (``""``: the host's default bus), optionally with its own
    source and detail-type."""
    return types.Destination(bus, source, detail_type)


# --- export glue -----------------------------------------------------------------------


def _message(e):
    if isinstance(e, Error):
        return str(e)
    return f"{type(e).__name__}: {e}"


class _State:
    """One instance's plugin, made by ``init``, and the fields it declared."""

    def __init__(self, plugin_class):
        self.plugin_class = plugin_class
        self.plugin = None
        self.declared = ()

    def init(self, pairs):
        if self.plugin is not None:
            raise Err("init was called twice on one instance")
        try:
            plugin = self.plugin_class()
            config = Config(pairs)
            plugin.init(config)
            config.finish()
            fields = [str(f) for f in getattr(plugin, "fields", ())]
            envelope = bool(getattr(plugin, "envelope", False))
        except Exception as e:
            raise Err(_message(e)) from None
        self.plugin = plugin
        self.declared = tuple(fields)
        return types.Manifest(fields, envelope)

    def call(self, method, wire, answer):
        if self.plugin is None:
            raise Err("called before init")
        try:
            event = Event(wire.detail, wire.envelope, self.declared)
            return answer(getattr(self.plugin, method)(event))
        except Exception as e:
            raise Err(_message(e)) from None


def _transformed(edits):
    if edits is None:
        return types.Transformed([], None)
    return types.Transformed([types.Edit(f, v) for f, v in edits.edits], edits.envelope)


def _destinations(answer):
    return [to(d) if isinstance(d, str) else d for d in answer or ()]


def export_filter(plugin_class):
    """The ``Filter`` class componentize-py exports, driving ``plugin_class``: it is made
    with no arguments, then ``init(config)``; ``filter(event)`` answers True to keep."""
    state = _State(plugin_class)

    class Filter:
        def init(self, config):
            return state.init(config)

        def filter(self, event):
            return state.call("filter", event, bool)

    return Filter


def export_transformer(plugin_class):
    """The ``Transformer`` class componentize-py exports, driving ``plugin_class``:
    ``transform(event)`` answers :class:`Edits` (or None for no change)."""
    state = _State(plugin_class)

    class Transformer:
        def init(self, config):
            return state.init(config)

        def transform(self, event):
            return state.call("transform", event, _transformed)

    return Transformer


def export_router(plugin_class):
    """The ``Router`` class componentize-py exports, driving ``plugin_class``:
    ``route(event)`` answers a list of destinations (:func:`to`, or bus names); an empty
    list means the default bus."""
    state = _State(plugin_class)

    class Router:
        def init(self, config):
            return state.init(config)

        def route(self, event):
            return state.call("route", event, _destinations)

    return Router
