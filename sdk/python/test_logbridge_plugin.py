"""Tests of logbridge_plugin outside a component: the generated bindings it imports are
stood in for by plain modules. Run: python3 -m unittest discover -s sdk/python"""

import sys
import types as _types
import unittest
from dataclasses import dataclass
from typing import Any, Optional


class _Err(Exception):
    def __init__(self, value):
        super().__init__(value)
        self.value = value


def _stub_bindings():
    logged = []
    runtime = _types.ModuleType("componentize_py_types")
    runtime.Err = _Err
    world = _types.ModuleType("wit_world")
    imports = _types.ModuleType("wit_world.imports")
    log = _types.ModuleType("wit_world.imports.log")
    log.Level = _types.SimpleNamespace(TRACE=0, DEBUG=1, INFO=2, WARN=3, ERROR=4)
    log.log = lambda level, message: logged.append((level, message))
    wit = _types.ModuleType("wit_world.imports.types")

    @dataclass
    class Manifest:
        fields: list
        envelope: bool

    @dataclass
    class Destination:
        bus: str
        source: Optional[str]
        detail_type: Optional[str]

    @dataclass
    class Edit:
        field: str
        value: Optional[str]

    @dataclass
    class Transformed:
        edits: list
        envelope: Any

    @dataclass
    class Event:
        detail: str
        envelope: Any

    for cls in (Manifest, Destination, Edit, Transformed, Event):
        setattr(wit, cls.__name__, cls)
    imports.log, imports.types = log, wit
    sys.modules.update({
        "componentize_py_types": runtime,
        "wit_world": world,
        "wit_world.imports": imports,
        "wit_world.imports.log": log,
        "wit_world.imports.types": wit,
    })
    return logged, wit


LOGGED, WIT = _stub_bindings()
import logbridge_plugin as lb  # noqa: E402  (after the stand-ins)


class ConfigTests(unittest.TestCase):
    def test_values_parse_and_errors_name_the_key(self):
        c = lb.Config([("limit", " 12 "), ("bad", "1_000"), ("types", "\u00a0a, ,b\x1c")])
        self.assertEqual(c.parse_int("limit"), 12)
        with self.assertRaises(lb.ConfigError) as e:
            c.parse_int("bad")
        self.assertEqual(str(e.exception), "config key `bad`: `1_000` is not a valid integer")
        # Rust's trim keeps U+001C, which Python's strip() would remove.
        self.assertEqual(c.list("types"), ["a", "b\x1c"])
        self.assertIsNone(c.list("absent"))
        with self.assertRaises(lb.ConfigError) as e:
            c.required("needed")
        self.assertIn("`needed`: is required", str(e.exception))
        c.finish()

    def test_a_key_no_one_read_is_an_error_listing_the_known_ones(self):
        c = lb.Config([("drop_types", "a"), ("drop_tpyes", "b")])
        c.list("drop_types")
        with self.assertRaises(lb.ConfigError) as e:
            c.finish()
        self.assertEqual(
            str(e.exception), "config key `drop_tpyes`: is unknown; this plugin reads `drop_types`"
        )
        with self.assertRaises(lb.ConfigError) as e:
            lb.Config([("x", "1")]).finish()
        self.assertIn("takes no configuration", str(e.exception))
        every = lb.Config([("rule.0.name", "a")])
        self.assertEqual(len(every.pairs()), 1)
        every.finish()


class EventTests(unittest.TestCase):
    def test_declared_fields_read_and_others_are_errors(self):
        e = lb.Event('{"data":{"type":"s","ip":null,"n":3,"type":"dup"}}', None,
                     ("data.type", "data.ip", "data.n"))
        self.assertEqual(e.str("data.type"), "s")  # the first of repeated keys, as the host
        self.assertTrue(e.has("data.ip"))
        self.assertIsNone(e.get("data.ip", "absent"))
        self.assertEqual(e.get("data.n.inside", "absent"), "absent")
        self.assertIsNone(e.str("data.n"))
        self.assertTrue(e.has("data"))  # on the way to a declared field
        with self.assertRaises(lb.FieldError) as err:
            e.get("data.user_name")
        self.assertTrue(str(err.exception).startswith("field `data.user_name`: not declared"))

    def test_lone_surrogates_are_no_string_and_bad_json_reads_as_absent(self):
        self.assertIsNone(lb.Event('{"a":"x\\ud800"}').str("a"))
        self.assertEqual(lb.Event('{"a":"\\ud83d\\ude00"}').str("a"), "\U0001f600")
        self.assertIsNone(lb.Event("not json").get("a"))

    def test_edits_serialize_as_serde_json(self):
        edits = lb.Edits().set("a", 'é"\n\x01\u2028').set("b", [1, 2.5]).remove("c")
        self.assertEqual(
            edits.edits,
            [("a", '"é\\"\\n\\u0001\u2028"'), ("b", "[1,2.5]"), ("c", None)],
        )


class GlueTests(unittest.TestCase):
    def test_init_answers_the_manifest_and_exceptions_become_err(self):
        class Plugin:
            envelope = True

            def init(self, config):
                self.fields = [config.required("field")]

            def transform(self, event):
                if event.str("data.type") == "boom":
                    return {}["missing"]
                if event.str("data.type") == "refuse":
                    raise lb.Error("refused as asked")
                return lb.Edits().set("data.type", "x")

        glue = lb.export_transformer(Plugin)
        manifest = glue().init([("field", "data.type")])
        self.assertEqual((manifest.fields, manifest.envelope), (["data.type"], True))
        answer = glue().transform(WIT.Event('{"data":{"type":"s"}}', None))
        self.assertEqual([(x.field, x.value) for x in answer.edits], [("data.type", '"x"')])
        with self.assertRaises(_Err) as e:
            glue().transform(WIT.Event('{"data":{"type":"boom"}}', None))
        self.assertEqual(e.exception.value, "KeyError: 'missing'")
        with self.assertRaises(_Err) as e:
            glue().transform(WIT.Event('{"data":{"type":"refuse"}}', None))
        self.assertEqual(e.exception.value, "refused as asked")
        with self.assertRaises(_Err) as e:
            lb.export_router(Plugin)().init([])
        self.assertEqual(
            e.exception.value, "config key `field`: is required; set it in the sidecar's [config]"
        )

    def test_routers_answer_destinations(self):
        class Plugin:
            fields = []

            def init(self, config):
                pass

            def route(self, event):
                return ["audit", lb.to("", detail_type="v2")]

        glue = lb.export_router(Plugin)
        glue().init([])
        self.assertEqual(
            glue().route(WIT.Event("{}", None)),
            [WIT.Destination("audit", None, None), WIT.Destination("", None, "v2")],
        )


if __name__ == "__main__":
    unittest.main()
