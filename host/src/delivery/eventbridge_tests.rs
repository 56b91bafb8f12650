//! Tests of the `PutEvents` body the EventBridge sink writes: its escaping against
//! `serde_json`'s, its JSON against the entries, and the request on the wire, signed over
//! that body.

use std::time::{Duration, SystemTime};

use aws_sdk_eventbridge::config::Credentials;
use aws_sdk_eventbridge::operation::put_events::PutEventsInput;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use aws_smithy_types::date_time::{DateTime, Format};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{EventBridgeOptions, EventBridgeSink, push_json_string, put_events_body};
use crate::delivery::sink::{EntryResult, Sink};
use crate::event::Event;

/// Strings with every character that needs escaping, at every place in an eight-byte
/// word, beside multi-byte characters.
fn awkward_strings() -> Vec<String> {
    let mut out = vec![
        String::new(),
        "plain".into(),
        "exactly8".into(),
        r#"{"log_id":"90020","data":{"type":"s","ip":"203.0.113.7"}}"#.into(),
        "é€𝄞 \"quoted\" back\\slash \u{7f} del".into(),
    ];
    let specials: Vec<char> = (0u8..0x20)
        .map(char::from)
        .chain(['"', '\\', 'é', '\u{7f}'])
        .collect();
    for special in specials {
        for before in 0..18 {
            for after in [0, 1, 7, 9] {
                out.push(format!(
                    "{}{special}{}",
                    "a".repeat(before),
                    "b".repeat(after)
                ));
            }
        }
    }
    out
}

#[test]
fn strings_are_escaped_exactly_as_json_writers_escape_them() {
    for text in awkward_strings() {
        let mut out = Vec::new();
        push_json_string(&mut out, &text);
        let ours = String::from_utf8(out).expect("UTF-8");
        // `serde_json` escapes as the SDK does: `\"`, `\\`, the named control
        // characters by name, the other control characters as lowercase `\u00xx`.
        assert_eq!(ours, serde_json::to_string(&text).unwrap(), "{text:?}");
    }
}

fn entry(detail: &str, time: Option<&str>, resources: &[&str]) -> PutEventsRequestEntry {
    let mut entry = PutEventsRequestEntry::builder()
        .source("auth0")
        .detail_type("Auth0 log \"quoted\"")
        .detail(detail)
        .event_bus_name("security");
    if !resources.is_empty() {
        entry = entry.set_resources(Some(resources.iter().map(ToString::to_string).collect()));
    }
    if let Some(time) = time {
        entry = entry.time(DateTime::from_str(time, Format::DateTime).unwrap());
    }
    entry.build()
}

#[test]
fn the_body_holds_every_member_of_every_entry_in_the_sdks_order() {
    let details = awkward_strings();
    let input = PutEventsInput::builder()
        .entries(entry(&details[3], Some("2026-11-02T08:00:00.067Z"), &[]))
        .entries(entry(&details[4], None, &["arn:aws:x:1", "arn:\"2\""]))
        .entries(PutEventsRequestEntry::builder().build())
        .entries(entry(&details[40], Some("2026-11-02T08:00:01Z"), &[]))
        .build()
        .unwrap();
    let body = String::from_utf8(put_events_body(&input).unwrap()).unwrap();
    let parsed: Value = serde_json::from_str(&body).expect("the body is JSON");
    assert_eq!(
        parsed,
        json!({"Entries": [
            {"Time": 1_793_606_400.067, "Source": "auth0", "DetailType": "Auth0 log \"quoted\"",
             "Detail": details[3], "EventBusName": "security"},
            {"Source": "auth0", "Resources": ["arn:aws:x:1", "arn:\"2\""],
             "DetailType": "Auth0 log \"quoted\"", "Detail": details[4],
             "EventBusName": "security"},
            {},
            {"Time": 1_793_606_401, "Source": "auth0", "DetailType": "Auth0 log \"quoted\"",
             "Detail": details[40], "EventBusName": "security"},
        ]})
    );
    // Members in the order the SDK writes them, and times as it writes them.
    assert!(
        body.starts_with(r#"{"Entries":[{"Time":1793606400.067,"Source":"auth0","DetailType":"#),
        "{body}"
    );
    assert!(body.contains(r#"{"Time":1793606401,"Source""#), "{body}");
    assert!(body.contains(r#"},{},{"#), "{body}");
}

/// One request as a server received it.
struct Received {
    head: String,
    body: Vec<u8>,
}

/// The value of the header `name` in a request's `head`.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

/// Serves one `PutEvents` call on 127.0.0.1, answering every entry as delivered, and
/// gives back what it received.
async fn one_put_events() -> (String, tokio::task::JoinHandle<Received>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut data = Vec::new();
        let mut buf = [0u8; 8192];
        let (head, length) = loop {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "the connection closed before a whole request");
            data.extend_from_slice(&buf[..n]);
            if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8(data[..end].to_vec()).unwrap();
                data.drain(..end + 4);
                let length: usize = header(&head, "content-length").unwrap().parse().unwrap();
                break (head, length);
            }
        };
        while data.len() < length {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "the connection closed before the whole body");
            data.extend_from_slice(&buf[..n]);
        }
        let entries = serde_json::from_slice::<Value>(&data).unwrap()["Entries"]
            .as_array()
            .unwrap()
            .len();
        let ids: Vec<String> = (0..entries)
            .map(|i| format!(r#"{{"EventId":"{i}"}}"#))
            .collect();
        let answer = format!(r#"{{"FailedEntryCount":0,"Entries":[{}]}}"#, ids.join(","));
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
            answer.len()
        );
        stream.write_all(response.as_bytes()).await.unwrap();
        Received { head, body: data }
    });
    (url, server)
}

#[tokio::test]
async fn the_sdk_sends_the_body_written_here_and_signs_it() {
    let (url, server) = one_put_events().await;
    let credentials = Credentials::new("AKIDTEST", "secret/test", None, None, "test");
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(credentials.clone())
        .http_client(
            aws_smithy_http_client::Builder::new()
                .tls_provider(Provider::Rustls(CryptoMode::Ring))
                .build_https(),
        )
        .load()
        .await;
    let options = EventBridgeOptions {
        endpoint_url: Some(url),
        ..EventBridgeOptions::default()
    };
    let sink = EventBridgeSink::from_sdk_config(&sdk, &options);
    let events: Vec<Event> = awkward_strings()
        .iter()
        .take(10)
        .enumerate()
        .map(|(i, text)| Event {
            id: format!("e{i}"),
            source: "auth0".into(),
            detail_type: "Auth0 log".into(),
            time: "2026-11-02T08:00:00.067Z".into(),
            resources: Vec::new(),
            detail: serde_json::to_string(&json!({"log_id": i, "text": text})).unwrap(),
        })
        .collect();
    let results = tokio::time::timeout(Duration::from_secs(30), sink.put("security", &events))
        .await
        .expect("the call finishes");
    assert!(
        results.iter().all(|r| *r == EntryResult::Delivered),
        "{results:?}"
    );
    let received = server.await.unwrap();

    // What arrived is every entry, whole.
    let parsed: Value = serde_json::from_slice(&received.body).unwrap();
    let sent = parsed["Entries"].as_array().unwrap();
    assert_eq!(sent.len(), events.len());
    for (entry, event) in sent.iter().zip(&events) {
        assert_eq!(entry["Detail"], event.detail.as_str());
        assert_eq!(entry["EventBusName"], "security");
        assert_eq!(entry["Time"], 1_793_606_400.067);
    }
    assert_eq!(
        header(&received.head, "content-length"),
        Some(received.body.len().to_string().as_str())
    );

    // And the signature is over it: signed again here, with the same headers and time,
    // it comes out the same.
    let authorization = header(&received.head, "authorization").unwrap();
    let signed_headers = authorization
        .split("SignedHeaders=")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap();
    let headers: Vec<(&str, &str)> = signed_headers
        .split(';')
        .map(|name| (name, header(&received.head, name).unwrap()))
        .collect();
    let date = header(&received.head, "x-amz-date").unwrap();
    let time = DateTime::from_str(
        &format!(
            "{}-{}-{}T{}:{}:{}Z",
            &date[0..4],
            &date[4..6],
            &date[6..8],
            &date[9..11],
            &date[11..13],
            &date[13..15]
        ),
        Format::DateTime,
    )
    .unwrap();
    let identity = credentials.into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("events")
        .time(SystemTime::try_from(time).unwrap())
        .settings(aws_sigv4::http_request::SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let request = aws_sigv4::http_request::SignableRequest::new(
        "POST",
        "/",
        headers.into_iter(),
        aws_sigv4::http_request::SignableBody::Bytes(&received.body),
    )
    .unwrap();
    let (_, signature) = aws_sigv4::http_request::sign(request, &params)
        .unwrap()
        .into_parts();
    assert!(
        authorization.ends_with(&format!("Signature={signature}")),
        "{authorization} against {signature}"
    );
}
