"""`30-route-by-category` in Python: a logbridge router that sends security events to one
bus and management-API events to another; everything else goes to the default bus.

Bus names come from the sidecar `[config]` keys `security_bus` (default `security`) and
`audit_bus` (default `audit`). With `detail_type` set, every event this router sees leaves
with that detail-type (the default bus included).
"""

import logbridge_plugin as lb

# Failed logins and signups, failed token exchanges, password changes, rate limits,
# breached passwords and failed MFA.
SECURITY_TYPES = frozenset(
    ["f", "fp", "fu", "fs", "feacft", "feccft", "fertft", "fcp",
     "limit_wc", "limit_mu", "pwd_leak", "gd_auth_failed"]
)
# Management API calls, successful or not.
AUDIT_TYPES = frozenset(["sapi", "fapi"])


def bus(config, key, default):
    """The value of bus key `key`, which may not be blank."""
    value = config.get(key)
    if value is None:
        return default
    if not lb.trim(value):
        raise lb.ConfigError(key, "is empty; give the name or ARN of an event bus")
    return value


class RouteByCategory:
    fields = ["data.type"]
    envelope = False

    def init(self, config):
        self.detail_type = config.get("detail_type")
        if self.detail_type is not None and not 1 <= len(self.detail_type) <= 128:
            raise lb.ConfigError(
                "detail_type",
                "must be 1 to 128 characters (EventBridge's limit), "
                f"got {len(self.detail_type)}",
            )
        self.security = bus(config, "security_bus", "security")
        self.audit = bus(config, "audit_bus", "audit")

    def route(self, event):
        code = event.str("data.type") or ""
        if code in SECURITY_TYPES:
            target = self.security
        elif code in AUDIT_TYPES:
            target = self.audit
        else:
            target = ""
        # No bus and no detail-type: no destination at all, the host's default.
        if not target and self.detail_type is None:
            return []
        return [lb.to(target, detail_type=self.detail_type)]


Router = lb.export_router(RouteByCategory)
