//! An independent model of what the example plugins do to Auth0 logs, written from the
//! plugins' documentation rather than their code, for tests to compare against.

use serde_json::Value;

/// Log types `10-drop-noise` drops with its shipped sidecar.
pub const DROPPED: &[&str] = &["seacft", "seccft", "sertft", "mgmt_api_read"];
/// Log types `30-route-by-category` sends to `security`.
pub const SECURITY: &[&str] = &[
    "f",
    "fp",
    "fu",
    "fs",
    "feacft",
    "feccft",
    "fertft",
    "fcp",
    "limit_wc",
    "limit_mu",
    "pwd_leak",
    "gd_auth_failed",
];
/// Log types `30-route-by-category` sends to `audit`.
pub const AUDIT: &[&str] = &["sapi", "fapi"];

/// The Auth0 log inside an input line (bare log or `{"log_id", "data"}` record).
pub fn log_of(line: &Value) -> &Value {
    line.get("data").filter(|d| d.is_object()).unwrap_or(line)
}

/// A log's id: its `log_id`, or `_id` in older payloads.
pub fn id_of(log: &Value) -> &str {
    log["log_id"]
        .as_str()
        .or_else(|| log["_id"].as_str())
        .expect("a log has a log_id or an _id")
}

/// Where the example pipeline sends a log: `None` when it is filtered.
pub fn expected_bus(log: &Value) -> Option<&'static str> {
    let code = log["type"].as_str().unwrap_or_default();
    if DROPPED.contains(&code) {
        None
    } else if SECURITY.contains(&code) {
        Some("security")
    } else if AUDIT.contains(&code) {
        Some("audit")
    } else {
        Some("default")
    }
}

/// Checks that a delivered log is redacted as `20-redact` promises, against the original.
pub fn assert_redacted(original: &Value, delivered: &Value) {
    let id = id_of(original);
    if let Some(name) = original["user_name"].as_str() {
        let got = delivered["user_name"].as_str().unwrap_or_default();
        match name.rsplit_once('@') {
            Some((local, domain)) if !local.is_empty() && !domain.is_empty() => {
                assert_eq!(got, format!("***@{domain}"), "user_name of {id}");
            }
            _ => assert_eq!(
                got, name,
                "a user_name that is not an e-mail stays, in {id}"
            ),
        }
    }
    if let Some(ip) = original["ip"].as_str() {
        match ip.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V4(v4)) => {
                let [a, b, c, _] = v4.octets();
                assert_eq!(delivered["ip"], format!("{a}.{b}.{c}.0"), "ip of {id}");
            }
            Ok(std::net::IpAddr::V6(v6)) => {
                let kept = &v6.segments()[..3];
                let masked: std::net::Ipv6Addr = delivered["ip"]
                    .as_str()
                    .expect("a masked IPv6 stays a string")
                    .parse()
                    .expect("a masked IPv6 is an IPv6 address");
                assert_eq!(&masked.segments()[..3], kept, "the /48 is kept in {id}");
                assert_eq!(
                    &masked.segments()[3..],
                    &[0; 5],
                    "the last 80 bits are zero in {id}"
                );
            }
            Err(_) => assert!(
                delivered.get("ip").is_none(),
                "an unparseable ip is removed in {id}"
            ),
        }
    }
    let mut rest_original = original.clone();
    let mut rest_delivered = delivered.clone();
    for field in ["user_name", "ip"] {
        rest_original.as_object_mut().map(|o| o.remove(field));
        rest_delivered.as_object_mut().map(|o| o.remove(field));
    }
    assert_eq!(
        rest_original, rest_delivered,
        "only user_name and ip change in {id}"
    );
}
