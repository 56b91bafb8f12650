// `30-route-by-category` in JavaScript: a logbridge router that sends security events to
// one bus and management-API events to another; everything else goes to the default bus.
//
// Bus names come from the sidecar `[config]` keys `security_bus` (default `security`) and
// `audit_bus` (default `audit`). With `detail_type` set, every event this router sees
// leaves with that detail-type (the default bus included).

import { ConfigError, exportRouter, to, trim } from "../../../sdk/js/logbridge_plugin.js";

// Failed logins and signups, failed token exchanges, password changes, rate limits,
// breached passwords and failed MFA.
const SECURITY_TYPES = new Set([
  "f", "fp", "fu", "fs", "feacft", "feccft", "fertft", "fcp",
  "limit_wc", "limit_mu", "pwd_leak", "gd_auth_failed",
]);
// Management API calls, successful or not.
const AUDIT_TYPES = new Set(["sapi", "fapi"]);

/** The value of bus key `key`, which may not be blank. */
function bus(config, key, fallback) {
  const value = config.get(key);
  if (value === undefined) return fallback;
  if (trim(value) === "") {
    throw new ConfigError(key, "is empty; give the name or ARN of an event bus");
  }
  return value;
}

export const router = exportRouter(() => ({
  fields: ["data.type"],
  envelope: false,

  init(config) {
    this.detailType = config.get("detail_type");
    if (this.detailType !== undefined) {
      const chars = [...this.detailType].length;
      if (chars < 1 || chars > 128) {
        throw new ConfigError(
          "detail_type",
          `must be 1 to 128 characters (EventBridge's limit), got ${chars}`,
        );
      }
    }
    this.security = bus(config, "security_bus", "security");
    this.audit = bus(config, "audit_bus", "audit");
  },

  route(event) {
    const code = event.str("data.type") ?? "";
    const target = SECURITY_TYPES.has(code)
      ? this.security
      : AUDIT_TYPES.has(code)
        ? this.audit
        : "";
    // No bus and no detail-type: no destination at all, the host's default.
    if (target === "" && this.detailType === undefined) return [];
    return [to(target, { detailType: this.detailType })];
  },
}));
