//! Tests of parse-once projection: declared fields, the scan and its checks, applying a
//! transformer's edits byte for byte, and what is handed over whole.

use serde_json::Value;

use super::*;

const LOG: &str = r#"{"log_id":"1","data":{"type":"s","user_name":"jane@example.com","ip":"203.0.113.7","details":{"ip":"x"},"list":[1,{"type":"no"}]}}"#;

/// A projector over one plugin's `fields`.
fn one(fields: &[&str]) -> (Projection, Projector) {
    let p = Projection::new(fields).unwrap();
    let projector = Projector::new(&[Some(&p)]).unwrap();
    (p, projector)
}

fn project(fields: &[&str], detail: &str) -> String {
    let (p, projector) = one(fields);
    let spans = projector.scan(detail).unwrap();
    projector.project(0, &p, detail, &spans)
}

/// Edits: (field, new JSON value or `None` to remove).
fn edits(list: &[(&str, Option<&str>)]) -> Vec<Edit> {
    list.iter()
        .map(|(field, value)| Edit {
            field: field.to_string(),
            value: value.map(str::to_string),
        })
        .collect()
}

fn applied(fields: &[&str], detail: &str, list: &[(&str, Option<&str>)]) -> Result<String, String> {
    let (_, projector) = one(fields);
    let spans = projector.scan(detail).unwrap();
    Ok(match projector.apply(detail, &spans, &edits(list))? {
        Merged::Unchanged => detail.to_string(),
        Merged::Changed { detail, .. } => detail,
    })
}

#[test]
fn hands_over_only_the_declared_fields() {
    assert_eq!(project(&["data.type"], LOG), r#"{"data":{"type":"s"}}"#);
    assert_eq!(
        project(&["data.ip", "data.user_name", "log_id"], LOG),
        r#"{"data":{"ip":"203.0.113.7","user_name":"jane@example.com"},"log_id":"1"}"#
    );
    assert_eq!(
        project(&["data.details"], LOG),
        r#"{"data":{"details":{"ip":"x"}}}"#
    );
    // A shorter path covers a longer one, in either order.
    assert_eq!(
        project(&["data.details.ip", "data.details"], LOG),
        r#"{"data":{"details":{"ip":"x"}}}"#
    );
}

#[test]
fn absent_fields_are_left_out_but_their_objects_stay() {
    assert_eq!(project(&["data.nope"], LOG), r#"{"data":{}}"#);
    assert_eq!(project(&["other.type"], LOG), "{}");
    // Not an object on the way: nothing to hand over.
    assert_eq!(project(&["log_id.x"], LOG), "{}");
}

#[test]
fn escaped_keys_and_values_are_found() {
    let detail = r#"{"d\u0061ta":{"type":"a\"b"}}"#;
    assert_eq!(
        project(&["data.type"], detail),
        r#"{"data":{"type":"a\"b"}}"#
    );
}

#[test]
fn a_detail_eventbridge_would_refuse_is_not_projected() {
    let (_, projector) = one(&["data.type"]);
    assert!(projector.scan("[1,2]").is_none());
    assert!(projector.scan("not json").is_none());
    assert!(projector.scan(r#"{"data":1} trailing"#).is_none());
    // Integers beyond 64 bits, in a declared field or anywhere else.
    assert!(
        projector
            .scan(r#"{"data":{"type":18446744073709551615}}"#)
            .is_none()
    );
    assert!(projector.scan(r#"{"x":[18446744073709551615]}"#).is_none());
    assert!(projector.scan(r#"{"data":18446744073709551615}"#).is_none());
}

#[test]
fn rejects_paths_that_are_not_paths() {
    assert!(Projection::new::<&str>(&[]).is_err());
    assert!(
        Projection::new(&["data..type"])
            .unwrap_err()
            .contains("not a path")
    );
    assert!(Projection::new(&[".type"]).is_err());
}

#[test]
fn plugins_share_one_scan_even_when_their_paths_nest() {
    let wide = Projection::new(&["data.details"]).unwrap();
    let narrow = Projection::new(&["data.details.ip", "data.type"]).unwrap();
    let projector = Projector::new(&[Some(&wide), None, Some(&narrow)]).unwrap();
    let spans = projector.scan(LOG).unwrap();
    assert_eq!(
        projector.project(0, &wide, LOG, &spans),
        r#"{"data":{"details":{"ip":"x"}}}"#
    );
    assert_eq!(
        projector.project(2, &narrow, LOG, &spans),
        r#"{"data":{"details":{"ip":"x"},"type":"s"}}"#
    );
}

#[test]
fn edits_replace_and_remove_in_place() {
    let out = applied(
        &["data.user_name", "data.ip"],
        LOG,
        &[
            ("data.user_name", Some(r#""***@example.com""#)),
            ("data.ip", None),
        ],
    )
    .unwrap();
    assert_eq!(
        out,
        r#"{"log_id":"1","data":{"type":"s","user_name":"***@example.com","details":{"ip":"x"},"list":[1,{"type":"no"}]}}"#
    );
    let (_, projector) = one(&["data.type"]);
    let spans = projector.scan(LOG).unwrap();
    assert!(matches!(
        projector.apply(LOG, &spans, &edits(&[("data.type", Some(r#""s""#))])),
        Ok(Merged::Unchanged)
    ));
    assert!(matches!(
        projector.apply(LOG, &spans, &edits(&[("data.absent", None)])),
        Ok(Merged::Unchanged)
    ));
}

#[test]
fn positions_follow_the_edits() {
    // A transformer edits, a later plugin reads a field after the edit.
    let redact = Projection::new(&["data.user_name", "data.ip"]).unwrap();
    let route = Projection::new(&["data.details", "data.type"]).unwrap();
    let projector = Projector::new(&[Some(&redact), Some(&route)]).unwrap();
    let spans = projector.scan(LOG).unwrap();
    let Merged::Changed {
        detail,
        spans: Some(spans),
    } = projector
        .apply(
            LOG,
            &spans,
            &edits(&[("data.user_name", Some(r#""***""#)), ("data.ip", None)]),
        )
        .unwrap()
    else {
        panic!("expected an in-place edit");
    };
    assert_eq!(
        projector.project(1, &route, &detail, &spans),
        r#"{"data":{"details":{"ip":"x"},"type":"s"}}"#
    );
    assert_eq!(
        projector.project(0, &redact, &detail, &spans),
        r#"{"data":{"user_name":"***"}}"#
    );
    // The same as scanning the new detail afresh.
    let fresh = projector.scan(&detail).unwrap();
    assert_eq!(fresh, spans);
}

#[test]
fn an_edit_with_declared_fields_inside_asks_for_a_new_scan() {
    let outer = Projection::new(&["data.details"]).unwrap();
    let inner = Projection::new(&["data.details.ip"]).unwrap();
    let projector = Projector::new(&[Some(&outer), Some(&inner)]).unwrap();
    let spans = projector.scan(LOG).unwrap();
    let merged = projector
        .apply(
            LOG,
            &spans,
            &edits(&[("data.details", Some(r#"{"ip":"y"}"#))]),
        )
        .unwrap();
    assert!(matches!(merged, Merged::Changed { spans: None, .. }));
}

#[test]
fn edits_add_fields_and_objects_through_the_general_path() {
    let out = applied(
        &["data.new", "extra.x"],
        LOG,
        &[("data.new", Some("1")), ("extra.x", Some("true"))],
    )
    .unwrap();
    assert!(
        out.ends_with(r#""list":[1,{"type":"no"}],"new":1},"extra":{"x":true}}"#),
        "{out}"
    );
}

const SIX: &[&str] = &[
    "log_id",
    "data.type",
    "data.user_name",
    "data.ip",
    "data.details",
    "data.list",
];

const SIX_EDITS: &[(&str, Option<&str>)] = &[
    ("data.list", Some("[2]")),
    ("data.ip", Some(r#""203.0.113.0""#)),
    ("log_id", Some(r#""one""#)),
    ("data.details", None),
    ("data.user_name", Some(r#""***@example.com""#)),
    ("data.type", Some(r#""f""#)),
];

#[test]
fn many_edits_are_still_spliced_in_place() {
    let (_, projector) = one(SIX);
    let spans = projector.scan(LOG).unwrap();
    let Merged::Changed {
        detail,
        spans: Some(moved),
    } = projector.apply(LOG, &spans, &edits(SIX_EDITS)).unwrap()
    else {
        panic!("expected an in-place edit");
    };
    assert_eq!(
        detail,
        r#"{"log_id":"one","data":{"type":"f","user_name":"***@example.com","ip":"203.0.113.0","list":[2]}}"#
    );
    assert_eq!(projector.scan(&detail).unwrap(), moved);
}

#[test]
fn the_fast_path_agrees_with_the_general_one() {
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, Option<&'a str>)]);
    let cases: &[Case] = &[
        (&["data.ip"], &[("data.ip", Some(r#""0.0.0.0""#))]),
        (&["data.ip"], &[("data.ip", None)]),
        (
            &["data.ip", "data.type"],
            &[("data.type", Some("7")), ("data.ip", None)],
        ),
        (
            &["log_id", "data.list"],
            &[("log_id", None), ("data.list", Some("[]"))],
        ),
        (&["data"], &[("data", Some(r#"{"only":1}"#))]),
        // Neighbours both removed: the first one's comma is the second one's too.
        (
            &["data.type", "data.user_name"],
            &[("data.type", None), ("data.user_name", None)],
        ),
        // The same field twice: the second edit wins.
        (&["data.ip"], &[("data.ip", None), ("data.ip", Some("1"))]),
        // More edits than are kept on the stack, then one field again after them.
        (SIX, SIX_EDITS),
        (SIX, &[SIX_EDITS, &[("data.type", Some("0"))]].concat()),
    ];
    for (fields, list) in cases {
        let (_, projector) = one(fields);
        let spans = projector.scan(LOG).unwrap();
        let fast = match projector.apply(LOG, &spans, &edits(list)).unwrap() {
            Merged::Unchanged => LOG.to_string(),
            Merged::Changed { detail, spans } => {
                if let Some(spans) = spans {
                    assert_eq!(projector.scan(&detail).unwrap(), spans, "{list:?}");
                }
                detail
            }
        };
        let slow = edit_detail(LOG, &edits(list)).unwrap();
        let parsed = |text: &str| serde_json::from_str::<Value>(text).unwrap();
        assert_eq!(
            parsed(&fast),
            parsed(&slow),
            "fields {fields:?}, edits {list:?}"
        );
    }
}

#[test]
fn a_repeated_declared_key_is_not_projected_and_an_edit_leaves_no_copy() {
    let (_, projector) = one(&["data.ip"]);
    // Which `ip` would the plugin see, which one be masked? Neither: handed over whole.
    assert!(
        projector
            .scan(r#"{"data":{"ip":"1.2.3.4","ip":"5.6.7.8"}}"#)
            .is_none()
    );
    assert!(
        projector
            .scan(r#"{"data":{"ip":"1"},"data":{"ip":"2"}}"#)
            .is_none()
    );
    // Undeclared keys may repeat.
    assert!(projector.scan(r#"{"data":{"x":1,"x":2}}"#).is_some());
    // Edited, the first occurrence takes the new value and the others go.
    let out = edit_detail(
        r#"{"data":{"ip":"1.2.3.4","n":1,"ip":"5.6.7.8"}}"#,
        &edits(&[("data.ip", Some(r#""1.2.3.0""#))]),
    )
    .unwrap();
    assert_eq!(out, r#"{"data":{"ip":"1.2.3.0","n":1}}"#);
}

#[test]
fn escapes_in_declared_strings_are_checked() {
    let (_, projector) = one(&["data.user_name"]);
    // A lone surrogate: EventBridge's check refuses it, so the scan does too.
    assert!(
        projector
            .scan(r#"{"data":{"user_name":"\udc00"}}"#)
            .is_none()
    );
    assert!(
        projector
            .scan(r#"{"data":{"user_name":"a\u0040b"}}"#)
            .is_some()
    );
}

#[test]
fn the_general_path_keeps_order_and_every_other_byte() {
    // An escaped key cannot be cut in place: the objects on the way are written anew,
    // in their order, with every other value as it was.
    let detail = r#"{"log_id":"1","data":{"\u0069p":"nope","n":1.50,"big":123456789012345678901234567890,"type":"s"}}"#;
    let out = applied(&["data.ip"], detail, &[("data.ip", None)]).unwrap();
    assert_eq!(
        out,
        r#"{"log_id":"1","data":{"n":1.50,"big":123456789012345678901234567890,"type":"s"}}"#
    );
}

#[test]
fn the_general_path_refuses_to_write_into_what_is_not_an_object() {
    let (_, projector) = one(&["data.new"]);
    let detail = r#"{"data":"flat"}"#;
    let spans = projector.scan(detail).unwrap();
    let err = projector
        .apply(detail, &spans, &edits(&[("data.new", Some("1"))]))
        .unwrap_err();
    assert!(
        err.contains("a value on its path is not a JSON object"),
        "{err}"
    );
}

#[test]
fn a_nested_path_under_something_else_is_left_out() {
    let wide = Projection::new(&["data"]).unwrap();
    let narrow = Projection::new(&["data.x"]).unwrap();
    let projector = Projector::new(&[Some(&wide), Some(&narrow)]).unwrap();
    let detail = r#"{"data":"flat"}"#;
    let spans = projector.scan(detail).unwrap();
    assert_eq!(
        projector.project(0, &wide, detail, &spans),
        r#"{"data":"flat"}"#
    );
    assert_eq!(projector.project(1, &narrow, detail, &spans), "{}");
}

/// Details to scan: the record above, and ones with what the fast path leaves to the walk.
const DETAILS: &[&str] = &[
    LOG,
    r#"{"log_id":"90020261125","data":{"date":"2026-11-25T09:00:00.123Z","type":"fp","description":"Wrong \"password\"","connection":"Username-Password-Authentication","client_id":"aBcD","ip":"2001:db8::7","user_agent":"Mozilla/5.0 (X11; Linux x86_64) \/ é ✓","details":{"error":{"message":"nope","oauthError":null},"attempts":3,"ratio":0.25,"ok":false,"neg":-0},"user_id":"auth0|42","user_name":"jane@example.com","strategy":"auth0","tags":[],"empty":{},"nested":[[1,[2,{"type":"x"}]],true]}}"#,
    r#"  {"data" : { "type" : "s" , "ip" : null } , "log_id" : 7 }  "#,
    r#"{"data":{"type":"s\u00e9","user_name":"\ud83d\ude00"}}"#,
    r#"{"data":{"type":1e3,"ip":123456789012345678901}}"#,
    r#"{"d\u0061ta":{"type":"s"}}"#,
    r#"{"data":{"type":"s","type":"f"}}"#,
];

/// Every projection the tests scan with, one plugin each, and all of them merged.
const FIELD_SETS: &[&[&str]] = &[
    &["data.type"],
    &["data.user_name", "data.ip"],
    &["data.details", "data.details.error.message"],
    &["log_id", "data"],
    &["data.nested", "data.type"],
];

/// `detail` changed in every small way: cut short at each byte, each byte removed, and
/// each byte replaced by each character that matters to JSON.
fn mutations(detail: &str) -> Vec<String> {
    const SPECIAL: &[u8] = b"\"\\{}[],: 0-9e.u\n\x01tn";
    let bytes = detail.as_bytes();
    let mut out = Vec::new();
    for i in 0..bytes.len() {
        out.push(bytes[..i].to_vec());
        let mut removed = bytes.to_vec();
        removed.remove(i);
        out.push(removed);
        for &c in SPECIAL {
            let mut replaced = bytes.to_vec();
            replaced[i] = c;
            out.push(replaced);
        }
    }
    out.into_iter()
        .filter_map(|b| String::from_utf8(b).ok())
        .collect()
}

#[test]
fn the_fast_scan_agrees_with_the_walk_on_every_detail_it_accepts() {
    let projections: Vec<Projection> = FIELD_SETS
        .iter()
        .map(|fields| Projection::new(fields).unwrap())
        .collect();
    let mut projectors: Vec<Projector> = projections
        .iter()
        .map(|p| Projector::new(&[Some(p)]).unwrap())
        .collect();
    let all: Vec<Option<&Projection>> = projections.iter().map(Some).collect();
    projectors.push(Projector::new(&all).unwrap());
    let (mut fast_accepted, mut cases) = (0, 0);
    for detail in DETAILS {
        for text in std::iter::once(detail.to_string()).chain(mutations(detail)) {
            for projector in &projectors {
                cases += 1;
                let walked = walk(&projector.root, projector.nodes, &text).ok();
                if let Ok(spans) = fast::scan(&projector.root, projector.nodes, &text) {
                    fast_accepted += 1;
                    assert_eq!(Some(spans), walked, "{text}");
                }
                assert_eq!(projector.scan(&text), walked, "{text}");
            }
        }
    }
    // The fast path takes the common case: most mutations break the text, so a quarter
    // of all cases is a good share.
    assert!(fast_accepted * 4 > cases, "{fast_accepted} of {cases}");
}

#[test]
fn the_fast_scan_takes_the_plain_records_and_leaves_the_unusual_to_the_walk() {
    let (_, projector) = one(&["data.type", "data.ip"]);
    let fast = |text: &str| fast::scan(&projector.root, projector.nodes, text).is_ok();
    assert!(fast(DETAILS[0]) && fast(DETAILS[1]) && fast(DETAILS[2]));
    for unusual in &DETAILS[3..] {
        assert!(!fast(unusual), "{unusual}");
        // The walk still decides: escapes, exponents and long integers pass, a repeated
        // declared key does not.
        assert_eq!(
            projector.scan(unusual).is_some(),
            !unusual.contains(r#""type":"f""#)
        );
    }
}

#[test]
fn a_scan_for_one_plugin_stops_once_its_fields_are_found() {
    let filter = Projection::new(&["data.type"]).unwrap();
    let redact = Projection::new(&["data.user_name", "data.ip"]).unwrap();
    let router = Projection::new(&["data"]).unwrap();
    let projector = Projector::new(&[Some(&filter), Some(&redact), None, Some(&router)]).unwrap();
    let whole = projector.scan(LOG).unwrap();
    let projected = |plugin: usize, projection: &Projection, detail: &str, spans: &Spans| {
        projector.project(plugin, projection, detail, spans)
    };
    // Found before the end: the same projection as the whole scan gives.
    let ScanFor::Found(early) = projector.scan_for(0, LOG) else {
        panic!("`data.type` comes first; the scan should stop there");
    };
    assert_eq!(
        projected(0, &filter, LOG, &early),
        projected(0, &filter, LOG, &whole)
    );
    assert_eq!(
        projected(0, &filter, LOG, &early),
        r#"{"data":{"type":"s"}}"#
    );
    let ScanFor::Found(early) = projector.scan_for(1, LOG) else {
        panic!("both fields come before the end");
    };
    assert_eq!(
        projected(1, &redact, LOG, &early),
        projected(1, &redact, LOG, &whole)
    );
    // A field inside another plugin's declared field is found inside its value.
    let ScanFor::Found(_) = projector.scan_for(0, r#"{"data":{"type":"f","x":[1]}"#) else {
        panic!("found inside `data`, which the router declared");
    };
    // No projection, or a field the detail lacks: the whole scan.
    assert!(matches!(projector.scan_for(2, LOG), ScanFor::Whole(Some(ref s)) if *s == whole));
    let lacking = r#"{"log_id":"1","data":{"ip":"1.2.3.4"}}"#;
    assert!(matches!(
        projector.scan_for(0, lacking),
        ScanFor::Whole(Some(ref s)) if *s == projector.scan(lacking).unwrap()
    ));
    // What the fast scan is unsure of goes to the walk, which reads the whole detail.
    let escaped = r#"{"data":{"ty\u0070e":"s"},"n":01}"#;
    assert!(matches!(
        projector.scan_for(0, escaped),
        ScanFor::Whole(None)
    ));
    let escaped = r#"{"data":{"ty\u0070e":"s"}}"#;
    assert!(matches!(
        projector.scan_for(0, escaped),
        ScanFor::Whole(Some(ref s)) if *s == projector.scan(escaped).unwrap()
    ));
    // What breaks after the fields is not seen; what breaks before them is.
    for after in [
        r#"{"data":{"type":"s","n":01}}"#,
        r#"{"data":{"type":"s","type":"f"}}"#,
        r#"{"data":{"type":"s"},"data":{"type":"f"}}"#,
        r#"{"data":{"type":"s"}"#,
    ] {
        assert!(projector.scan(after).is_none(), "{after}");
        assert!(
            matches!(projector.scan_for(0, after), ScanFor::Found(_)),
            "{after}"
        );
    }
    for before in [
        r#"{"data":{"n":01,"type":"s"}}"#,
        r#"{"data":{"x":1},"data":{"type":"f"}}"#,
        "[1]",
    ] {
        assert!(
            matches!(projector.scan_for(0, before), ScanFor::Whole(None)),
            "{before}"
        );
    }
}
