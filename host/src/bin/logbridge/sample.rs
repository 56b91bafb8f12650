//! `logbridge sample`: deterministic Auth0 tenant logs for trying logbridge out, for its
//! demo, tests and benchmarks — shaped like the `data` of what Auth0's log streams send,
//! as bare logs, `{"log_id", "data"}` records one per line, or one JSON array of records.

use std::io::{BufWriter, Write};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use serde::Serialize;
use serde_json::{Map, Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

mod vocabulary;

use vocabulary::{
    ALNUM, APPLICATIONS, CONNECTIONS, DIGITS, HEX, NAMES, PLACES, TYPES, USER_AGENTS,
};

/// How the logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// One bare log object per line (NDJSON), as `logbridge run` reads them.
    Ndjson,
    /// One `{"log_id", "data"}` record per line: a `JSONLINES` webhook body.
    WebhookLines,
    /// One JSON array of `{"log_id", "data"}` records: a `JSONARRAY` webhook body.
    WebhookArray,
}

#[derive(Args)]
pub(crate) struct SampleArgs {
    /// How many logs.
    #[arg(long, short = 'n', default_value_t = 1000)]
    count: u64,
    /// The same seed gives the same logs, byte for byte.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// How the logs are written.
    #[arg(long, value_enum, default_value = "ndjson")]
    format: Format,
    /// Mix in odd but valid logs: unicode, large fields, missing or null user fields and
    /// IPs, deep nesting, the 64-bit integer bounds, the legacy `_id`.
    #[arg(long)]
    edge_cases: bool,
    /// The tenant the logs belong to.
    #[arg(long, default_value = "northwind")]
    tenant: String,
    /// The time of the first log (RFC 3339); the rest follow about 30 ms apart.
    #[arg(long, default_value = "2026-11-02T08:00:00Z")]
    start: String,
}

/// SplitMix64: small, fast, and the same sequence on every platform.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[usize::try_from(self.below(items.len() as u64)).expect("a small index")]
    }

    /// True with probability `percent`/100.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn token(&mut self, len: usize, alphabet: &[u8]) -> String {
        (0..len).map(|_| char::from(*self.pick(alphabet))).collect()
    }
}

/// One log, its fields in the order Auth0 writes them.
#[derive(Serialize)]
struct Log {
    date: String,
    #[serde(rename = "type")]
    code: &'static str,
    description: String,
    connection: &'static str,
    connection_id: String,
    client_id: String,
    client_name: Option<&'static str>,
    ip: Option<String>,
    user_agent: &'static str,
    hostname: String,
    user_id: Option<String>,
    user_name: Option<String>,
    strategy: &'static str,
    strategy_type: &'static str,
    audience: &'static str,
    scope: &'static str,
    is_mobile: bool,
    details: Map<String, Value>,
    location_info: Option<Value>,
    tenant_name: String,
    environment_name: &'static str,
    #[serde(flatten)]
    id: LogId,
}

/// What Auth0's log streams send: the log's id, and the log.
#[derive(Serialize)]
struct Record<'a> {
    log_id: &'a str,
    data: &'a Log,
}

/// The log's id: `log_id`, or `_id` in older payloads.
#[derive(Serialize)]
enum LogId {
    #[serde(rename = "log_id")]
    Current(String),
    #[serde(rename = "_id")]
    Legacy(String),
}

fn millis(moment: OffsetDateTime) -> i64 {
    i64::try_from(moment.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn ip(rng: &mut Rng) -> String {
    if rng.chance(20) {
        let [a, b, c, d] = [0; 4].map(|_: u8| rng.below(65535) + 1);
        format!("2001:db8:{a:x}:{b:x}:{c:x}::{d:x}")
    } else {
        let net = rng.pick(&["192.0.2", "198.51.100", "203.0.113"]);
        format!("{net}.{}", rng.below(254) + 1)
    }
}

fn user_name(rng: &mut Rng, strategy: &str) -> String {
    if strategy == "sms" {
        // Passwordless by SMS: the user name is a phone number, not an e-mail.
        format!("+1555010{:04}", rng.below(10_000))
    } else {
        format!("{}.{}@example.org", rng.pick(NAMES), rng.below(50_000))
    }
}

fn log(rng: &mut Rng, n: u64, start: OffsetDateTime, tenant: &str, edge_cases: bool) -> Log {
    let total: u32 = TYPES.iter().map(|t| t.2).sum();
    let mut at = u32::try_from(rng.below(u64::from(total))).expect("below the total");
    let &(code, text, _, category) = TYPES
        .iter()
        .find(|t| {
            if at < t.2 {
                return true;
            }
            at -= t.2;
            false
        })
        .expect("the weights add up to the total");
    let moment = start
        + Duration::milliseconds(
            i64::try_from(n.saturating_mul(29).saturating_add(rng.below(29))).unwrap_or(i64::MAX),
        );
    let date = moment
        .format(&Rfc3339)
        .expect("a time in range formats as RFC 3339");
    let &(connection, strategy, strategy_type) = rng.pick(CONNECTIONS);
    let &(application, app_type) = rng.pick(APPLICATIONS);
    let &(country, country_name, city, zone, lat, lon) = rng.pick(PLACES);
    let stamp: String = date.chars().filter(char::is_ascii_digit).take(17).collect();
    let log_id = format!("900{stamp:0<17}{}", rng.token(35, DIGITS));
    let mut details = Map::new();
    details.insert("initiatedAt".into(), json!(millis(moment)));
    details.insert(
        "completedAt".into(),
        json!(millis(moment) + i64::try_from(rng.below(680) + 20).unwrap_or(0)),
    );
    details.insert("session_id".into(), json!(rng.token(32, ALNUM)));
    details.insert("stats".into(), json!({"loginsCount": rng.below(900) + 1}));
    details.insert("category".into(), json!(category));
    details.insert(
        "prompts".into(),
        json!([{"name": "login-id", "elapsedTime": rng.below(680) + 20, "flow": "universal-login"}]),
    );
    if code.starts_with('f') || code == "gd_auth_failed" {
        details.insert(
            "error".into(),
            json!({"message": text, "type": "invalid_request"}),
        );
    }
    if matches!(code, "sapi" | "fapi" | "mgmt_api_read") {
        let method = *rng.pick(&["get", "post", "patch", "delete"]);
        details.insert(
            "request".into(),
            json!({"method": method, "path": format!("/api/v2/users/{}", rng.token(24, HEX)),
                   "auth": {"strategy": "jwt", "credentials": {"scopes": ["read:users", "update:users"]}}}),
        );
        details.insert(
            "response".into(),
            json!({"statusCode": if code == "fapi" { 403 } else { 200 }, "body": {}}),
        );
    }
    let agent = *rng.pick(USER_AGENTS);
    let scope = *rng.pick(&[
        "openid profile",
        "openid email offline_access",
        "read:orders",
    ]);
    let mut log = Log {
        date,
        code,
        description: text.to_string(),
        connection,
        connection_id: format!("con_{}", rng.token(16, ALNUM)),
        client_id: rng.token(32, ALNUM),
        client_name: Some(application),
        ip: Some(ip(rng)),
        user_agent: agent,
        hostname: format!("{tenant}.eu.auth0.com"),
        user_id: Some(format!("{strategy}|{}", rng.token(24, HEX))),
        user_name: Some(user_name(rng, strategy)),
        strategy,
        strategy_type,
        audience: "https://orders.example.org/api",
        scope,
        is_mobile: app_type == "native",
        details,
        location_info: Some(json!({
            "country_code": country, "country_name": country_name, "city_name": city,
            "latitude": lat, "longitude": lon, "time_zone": zone,
        })),
        tenant_name: tenant.to_string(),
        environment_name: "production",
        id: LogId::Current(log_id),
    };
    if edge_cases && rng.chance(25) {
        make_odd(rng, &mut log);
    }
    log
}

/// Makes `log` odd but valid, one way or another.
fn make_odd(rng: &mut Rng, log: &mut Log) {
    match rng.below(7) {
        0 => {
            log.description =
                "Ünïcödé ✓ ログイン \u{2028} line separator, \"quotes\", \\ backslashes, \t tab"
                    .into();
        }
        1 => {
            let size = usize::try_from(rng.below(85_000) + 25_000).expect("small");
            log.details
                .insert("attachment".into(), json!("z".repeat(size)));
        }
        2 => {
            log.user_id = None;
            log.user_name = None;
            log.client_name = None;
            log.location_info = None;
            log.ip = None;
        }
        3 => {
            log.details.insert(
                "deep".into(),
                json!({"l1": {"l2": {"l3": {"l4": [0, -1.25, 6.02e23, null, false, {"l5": {}}]}}}}),
            );
        }
        4 => {
            log.ip = Some(String::new());
            log.user_name = Some(String::new());
        }
        5 => {
            log.details.insert(
                "limits".into(),
                json!({"max": i64::MAX, "min": i64::MIN, "tiny": 1e-300}),
            );
        }
        _ => {
            let LogId::Current(id) = &log.id else {
                return;
            };
            log.id = LogId::Legacy(id.clone());
        }
    }
}

pub(crate) fn sample(args: SampleArgs) -> anyhow::Result<ExitCode> {
    let start = OffsetDateTime::parse(&args.start, &Rfc3339).map_err(|_| {
        anyhow::anyhow!(
            "--start {:?} is not an RFC 3339 time such as 2026-11-02T08:00:00Z",
            args.start
        )
    })?;
    let mut rng = Rng(args.seed);
    let mut out = BufWriter::new(std::io::stdout().lock());
    let written = write_logs(&mut out, &mut rng, &args, start).and_then(|()| out.flush());
    match written {
        Ok(()) => Ok(ExitCode::SUCCESS),
        // A reader such as `head` stopped early: that is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(anyhow::Error::new(e).context("writing the sample logs failed")),
    }
}

fn write_logs(
    out: &mut impl Write,
    rng: &mut Rng,
    args: &SampleArgs,
    start: OffsetDateTime,
) -> std::io::Result<()> {
    let array = args.format == Format::WebhookArray;
    if array {
        out.write_all(b"[")?;
    }
    for n in 0..args.count {
        let log = log(rng, n, start, &args.tenant, args.edge_cases);
        if array && n > 0 {
            out.write_all(b",")?;
        }
        if args.format == Format::Ndjson {
            serde_json::to_writer(&mut *out, &log)?;
        } else {
            let (LogId::Current(id) | LogId::Legacy(id)) = &log.id;
            serde_json::to_writer(
                &mut *out,
                &Record {
                    log_id: id,
                    data: &log,
                },
            )?;
        }
        if !array {
            out.write_all(b"\n")?;
        }
    }
    if array {
        out.write_all(b"]\n")?;
    }
    Ok(())
}
