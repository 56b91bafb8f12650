//! Tests of the example rules: which types are dropped and routed where, and the
//! masks redact applies, wherever the fields stand.

use super::*;

fn redacted(detail: &str) -> String {
    let out = redact(detail).expect("redacts");
    out.detail.unwrap_or_else(|| detail.to_string())
}

/// The in-place edit must agree with the general path on every record it takes.
fn agrees(detail: &str) {
    let fast = redact_in_place(detail).expect("takes the fast path");
    let slow = redact_by_value(detail).expect("general path");
    let fast_text = fast.detail.clone().unwrap_or_else(|| detail.to_string());
    let a: Value = serde_json::from_str(&fast_text).expect("fast output is JSON");
    let b: Value = serde_json::from_str(slow.detail.as_deref().unwrap()).unwrap();
    assert_eq!(a, b, "for {detail}");
    assert_eq!(fast.warning, slow.warning, "for {detail}");
}

#[test]
fn masks_email_local_part_only() {
    assert_eq!(
        mask_email("jane.doe@example.com").as_deref(),
        Some("***@example.com")
    );
    assert_eq!(
        mask_email("a@b@example.com").as_deref(),
        Some("***@example.com")
    );
    assert_eq!(mask_email("jane"), None);
    assert_eq!(mask_email("@example.com"), None);
}

#[test]
fn masks_ip_host_bits() {
    assert_eq!(mask_ip("203.0.113.77").as_deref(), Some("203.0.113.0"));
    assert_eq!(
        mask_ip("2001:db8:4aef:6d2e::e211").as_deref(),
        Some("2001:db8:4aef::")
    );
    assert_eq!(mask_ip("not-an-ip"), None);
}

#[test]
fn every_octet_value_is_written_as_the_standard_library_writes_it() {
    for n in 0..=255u8 {
        let ip = std::net::Ipv4Addr::new(n, 255 - n, n / 3, 77);
        let expected = std::net::Ipv4Addr::new(n, 255 - n, n / 3, 0).to_string();
        assert_eq!(mask_ip(&ip.to_string()), Some(expected));
    }
}

#[test]
fn masked_ipv6_is_written_as_the_standard_library_writes_it() {
    // Each of the first three groups zero, small, or large: every run of zeros the
    // masked address can have, and every hexadecimal width.
    let values = [0u16, 1, 0xa, 0x10, 0xdb8, 0x4aef, 0xffff, 0x0100];
    for a in values {
        for b in values {
            for c in values {
                let ip = Ipv6Addr::new(a, b, c, 0x6d2e, 0, 7, 0xe211, 1);
                let bits = u128::from(ip) & !((1u128 << 80) - 1);
                let expected = Ipv6Addr::from(bits).to_string();
                assert_eq!(mask_ip(&ip.to_string()), Some(expected), "{ip}");
            }
        }
    }
}

#[test]
fn edits_only_the_masked_values() {
    let detail = r#"{"log_id":"1","data":{"type":"s","user_name":"jane@example.com","ip":"203.0.113.77","details":{"ip":"1.2.3.4"}}}"#;
    assert_eq!(
        redacted(detail),
        r#"{"log_id":"1","data":{"type":"s","user_name":"***@example.com","ip":"203.0.113.0","details":{"ip":"1.2.3.4"}}}"#
    );
    agrees(detail);
}

#[test]
fn leaves_a_record_without_personal_data_untouched() {
    let detail = r#"{"log_id":"1","data":{"type":"s","user_name":"jane","ip":null}}"#;
    assert_eq!(redact(detail).unwrap().detail, None);
    agrees(detail);
}

#[test]
fn removes_an_ip_that_cannot_be_masked_wherever_it_stands() {
    for (detail, expected) in [
        (
            r#"{"data":{"type":"s","ip":"nope","x":1}}"#,
            r#"{"data":{"type":"s","x":1}}"#,
        ),
        (r#"{"data":{"ip":"nope","x":1}}"#, r#"{"data":{"x":1}}"#),
        (r#"{"data":{"ip":"nope"}}"#, r#"{"data":{}}"#),
        (
            r#"{"data": { "ip" : 42 , "x" : 1 } }"#,
            r#"{"data": { "x" : 1 } }"#,
        ),
        (r#"{"data":{"a":1, "ip":[1,2]}}"#, r#"{"data":{"a":1}}"#),
    ] {
        let out = redact(detail).unwrap();
        assert_eq!(out.detail.as_deref(), Some(expected), "for {detail}");
        assert!(out.warning.is_some());
        agrees(detail);
    }
}

#[test]
fn escaped_values_and_keys_are_handled() {
    // An escaped e-mail is decoded before masking; an escaped key takes the general path.
    let detail = r#"{"data":{"user_name":"jane\u0040example.com","ip":"10.0.0.9"}}"#;
    assert_eq!(
        redacted(detail),
        r#"{"data":{"user_name":"***@example.com","ip":"10.0.0.0"}}"#
    );
    let escaped_key = r#"{"data":{"\u0069p":"nope","x":1}}"#;
    assert!(redact_in_place(escaped_key).is_none());
    assert_eq!(redacted(escaped_key), r#"{"data":{"x":1}}"#);
}

#[test]
fn repeated_keys_take_the_general_path() {
    let detail = r#"{"data":{"ip":"1.2.3.4","ip":"5.6.7.8"}}"#;
    assert!(redact_in_place(detail).is_none());
    assert_eq!(redacted(detail), r#"{"data":{"ip":"5.6.7.0"}}"#);
}

#[test]
fn refuses_what_is_not_a_log_record() {
    assert!(redact("not json").unwrap_err().contains("not valid JSON"));
    assert!(
        redact(r#"{"data":"x"}"#)
            .unwrap_err()
            .contains("no `data` object")
    );
    assert!(
        redact(r#"{"log_id":"1"}"#)
            .unwrap_err()
            .contains("no `data` object")
    );
}

#[test]
fn reads_type_and_category() {
    let detail = r#"{"log_id":"1","data":{"date":"x","type":"fp","ip":"1.2.3.4"}}"#;
    assert_eq!(log_type(detail).as_deref(), Some("fp"));
    assert_eq!(category("fp"), Category::Security);
    assert_eq!(category("sapi"), Category::Audit);
    assert_eq!(category("s"), Category::Other);
    assert_eq!(log_type("[]"), None);
}
