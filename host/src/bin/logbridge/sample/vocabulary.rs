//! What sample logs are made of: Auth0's log types by stream category with their weights,
//! connections, applications, user agents and places.

/// Log type codes by Auth0's stream categories, each with a weight for a plausible mix;
/// every type the example plugins drop or route is here.
pub(super) const TYPES: &[(&str, &str, u32, &str)] = &[
    ("s", "Success Login", 300, "login.success"),
    (
        "scoa",
        "Success cross-origin authentication",
        8,
        "login.success",
    ),
    ("f", "Failed Login", 30, "login.failure"),
    ("fp", "Wrong email or password.", 55, "login.failure"),
    ("fu", "Invalid email or username", 25, "login.failure"),
    (
        "fcoa",
        "Failed cross-origin authentication",
        4,
        "login.failure",
    ),
    ("slo", "Success Logout", 60, "logout"),
    ("flo", "Failed Logout", 2, "logout"),
    ("ss", "Success Signup", 30, "signup"),
    ("fs", "Failed Signup", 8, "signup"),
    ("ssa", "Success Silent Auth", 20, "silent.auth"),
    ("fsa", "Failed Silent Auth", 6, "silent.auth"),
    (
        "seacft",
        "Success Exchange (Authorization Code for Access Token)",
        140,
        "token.success",
    ),
    (
        "seccft",
        "Success Exchange (Client Credentials for Access Token)",
        80,
        "token.success",
    ),
    (
        "sertft",
        "Success Exchange (Refresh Token for Access Token)",
        60,
        "token.success",
    ),
    (
        "feacft",
        "Failed Exchange (Authorization Code for Access Token)",
        8,
        "token.failure",
    ),
    (
        "feccft",
        "Failed Exchange (Client Credentials for Access Token)",
        6,
        "token.failure",
    ),
    (
        "fertft",
        "Failed Exchange (Refresh Token for Access Token)",
        6,
        "token.failure",
    ),
    ("sapi", "Success API Operation", 40, "management"),
    ("fapi", "Failed API Operation", 8, "management"),
    (
        "mgmt_api_read",
        "API GET operation returning secrets completed successfully",
        30,
        "management",
    ),
    ("scp", "Success Change Password", 8, "user.change"),
    ("fcp", "Failed Change Password", 6, "user.change"),
    ("sv", "Success Verification Email", 8, "user.verification"),
    ("fv", "Failed Verification Email", 3, "user.verification"),
    ("limit_wc", "Blocked Account", 5, "system"),
    ("limit_mu", "Blocked IP Address", 4, "system"),
    ("api_limit", "Rate Limit on API", 3, "system"),
    ("pwd_leak", "Breached password", 3, "system"),
    ("gd_auth_succeed", "OTP Auth success", 15, "mfa"),
    ("gd_auth_failed", "OTP Auth failed", 5, "mfa"),
    ("du", "Deleted User", 4, "other"),
    ("w", "Warning", 4, "other"),
    ("depnote", "Deprecation Notice", 2, "other"),
];

/// Connection, strategy, strategy type.
pub(super) const CONNECTIONS: &[(&str, &str, &str)] = &[
    ("Username-Password-Authentication", "auth0", "database"),
    ("google-oauth2", "google-oauth2", "social"),
    ("windowslive", "windowslive", "social"),
    ("corp-okta", "okta", "enterprise"),
    ("sms", "sms", "passwordless"),
];
/// Application, application type.
pub(super) const APPLICATIONS: &[(&str, &str)] = &[
    ("Storefront", "spa"),
    ("Storefront Android", "native"),
    ("Orders API worker", "non_interactive"),
    ("Back Office", "regular_web"),
];
pub(super) const USER_AGENTS: &[&str] = &[
    "Chrome 131.0.0 / Windows 10.0.0",
    "Edge 130.0.0 / Windows 11.0.0",
    "Mobile Safari 18.1.0 / iOS 18.1.0",
    "Chrome Mobile 131.0.0 / Android 15.0.0",
    "okhttp 4.12.0 / Other 0.0.0",
];
/// Country code, country, city, time zone, latitude, longitude.
pub(super) const PLACES: &[(&str, &str, &str, &str, f64, f64)] = &[
    ("CA", "Canada", "Toronto", "America/Toronto", 43.65, -79.38),
    ("FR", "France", "Lyon", "Europe/Paris", 45.76, 4.84),
    (
        "AU",
        "Australia",
        "Melbourne",
        "Australia/Melbourne",
        -37.81,
        144.96,
    ),
    ("KE", "Kenya", "Nairobi", "Africa/Nairobi", -1.29, 36.82),
    (
        "MX",
        "Mexico",
        "Monterrey",
        "America/Monterrey",
        25.69,
        -100.32,
    ),
];
pub(super) const NAMES: &[&str] = &["ana", "bo", "chen", "dara", "eli", "femi", "gus"];
pub(super) const HEX: &[u8] = b"0123456789abcdef";
pub(super) const DIGITS: &[u8] = b"0123456789";
pub(super) const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
