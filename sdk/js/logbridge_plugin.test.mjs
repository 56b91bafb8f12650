// Tests of logbridge_plugin.js outside a component: the `log` import is stood in for.
// Run: node --test sdk/js/
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "node:test";

const logged = [];
globalThis.__logbridgeLog = (level, message) => logged.push([level, message]);
const source = readFileSync(new URL("./logbridge_plugin.js", import.meta.url), "utf8").replace(
  /^import \{ log as hostLog \} from "logbridge:plugin\/log@0.2.0";$/m,
  "const hostLog = (...args) => globalThis.__logbridgeLog(...args);",
);
const dir = mkdtempSync(join(tmpdir(), "logbridge-sdk-"));
const file = join(dir, "logbridge_plugin.mjs");
writeFileSync(file, source);
const lb = await import(file);
// Loaded: the copy is not needed any more, and each run would leave its folder behind.
rmSync(dir, { recursive: true, force: true });

test("the copy of the helper is gone from the temp folder once loaded", () => {
  assert.equal(existsSync(dir), false);
});

test("config values parse and errors name the key", () => {
  const c = new lb.Config([["limit", " 12 "], ["bad", "1e3"], ["types", "\ufeffa, ,b\u00a0"]]);
  assert.equal(c.parseInt("limit"), 12);
  assert.throws(() => c.parseInt("bad"), { message: "config key `bad`: `1e3` is not a valid integer" });
  // Rust's trim keeps U+FEFF, which String.prototype.trim would remove.
  assert.deepEqual(c.list("types"), ["\ufeffa", "b"]);
  assert.equal(c.list("absent"), undefined);
  assert.throws(() => c.required("needed"), /`needed`: is required/);
  c.finish();
});

test("a key no one read is an error listing the known ones", () => {
  const c = new lb.Config([["drop_types", "a"], ["drop_tpyes", "b"]]);
  c.list("drop_types");
  assert.throws(() => c.finish(), {
    message: "config key `drop_tpyes`: is unknown; this plugin reads `drop_types`",
  });
  assert.throws(() => new lb.Config([["x", "1"]]).finish(), /takes no configuration/);
  const every = new lb.Config([["rule.0.name", "a"]]);
  assert.equal(every.pairs().length, 1);
  every.finish();
});

test("declared fields read, the first of repeated keys counts, others are errors", () => {
  const e = new lb.Event('{"data":{"type":"s","ip":null,"n":3,"type":"dup"}}', undefined, [
    "data.type",
    "data.ip",
    "data.n",
  ]);
  assert.equal(e.str("data.type"), "s");
  assert.equal(e.has("data.ip"), true);
  assert.equal(e.get("data.ip", "absent"), null);
  assert.equal(e.get("data.n.inside", "absent"), "absent");
  assert.equal(e.str("data.n"), undefined);
  assert.equal(e.has("data"), true);
  assert.throws(() => e.get("data.user_name"), /^FieldError: field `data.user_name`: not declared/);
  assert.equal(new lb.Event('{"a":"x\\ud800"}').str("a"), undefined);
  assert.equal(new lb.Event('{"a":"\\ud83d\\ude00"}').str("a"), "\u{1f600}");
  assert.equal(new lb.Event("not json").get("a"), undefined);
});

test("parseJson reads what JSON.parse reads, keeping the first of repeated keys", () => {
  for (const text of ['{"a":[1,-2.5e3,true,false,null,"\\"\\u0041"]}', '"s"', " [ ] ", '{"__proto__":1}']) {
    assert.deepEqual(lb.parseJson(text), JSON.parse(text), text);
  }
  assert.deepEqual(lb.parseJson('{"k\\u0061":1,"ka":2}'), { ka: 1 });
  for (const bad of ['{"a":1,}', "01", '{"a" 1}', "nul", "1 2", '"\n"']) {
    assert.throws(() => lb.parseJson(bad), SyntaxError, bad);
  }
});

test("edits serialize as serde_json does", () => {
  const edits = new lb.Edits().set("a", 'é"\n\x01\u2028').set("b", [1, 2.5]).remove("c");
  assert.deepEqual(edits.edits, [
    { field: "a", value: '"é\\"\\n\\u0001\u2028"' },
    { field: "b", value: "[1,2.5]" },
    { field: "c", value: undefined },
  ]);
});

test("init answers the manifest and anything thrown becomes the err string", () => {
  const glue = lb.exportTransformer(() => ({
    envelope: true,
    init(config) {
      this.fields = [config.required("field")];
    },
    transform(event) {
      if (event.str("data.type") === "boom") return null.x;
      if (event.str("data.type") === "refuse") throw new lb.PluginError("refused as asked");
      return new lb.Edits().set("data.type", "x");
    },
  }));
  assert.deepEqual(glue.init([["field", "data.type"]]), { fields: ["data.type"], envelope: true });
  assert.deepEqual(glue.transform({ detail: '{"data":{"type":"s"}}' }).edits, [
    { field: "data.type", value: '"x"' },
  ]);
  assert.throws(() => glue.transform({ detail: '{"data":{"type":"boom"}}' }), (e) =>
    typeof e === "string" && e.startsWith("TypeError: "),
  );
  assert.throws(() => glue.transform({ detail: '{"data":{"type":"refuse"}}' }), (e) => e === "refused as asked");
  const router = lb.exportRouter(() => ({ init() {}, route: () => ["audit", lb.to("", { detailType: "v2" })] }));
  assert.throws(() => router.route({ detail: "{}" }), (e) => e === "called before init");
  router.init([]);
  assert.deepEqual(router.route({ detail: "{}" }), [
    { bus: "audit", source: undefined, detailType: undefined },
    { bus: "", source: undefined, detailType: "v2" },
  ]);
  lb.log.warn("w");
  assert.deepEqual(logged.at(-1), ["warn", "w"]);
});
