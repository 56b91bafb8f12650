"""`10-drop-noise` in Python: a logbridge filter that drops high-volume, low-value Auth0
log types.

The types to drop come from the `drop_types` key of the sidecar `[config]` table
(comma-separated); without it, the defaults below apply (those of the Rust plugin). An
event whose log type cannot be read is kept: a filter that is unsure never throws data
away.
"""

import logbridge_plugin as lb

# Token exchanges that repeat on every refresh, and management API reads.
DEFAULT_DROP_TYPES = ["seacft", "seccft", "sertft", "mgmt_api_read"]


class DropNoise:
    fields = ["data.type"]
    envelope = False

    def init(self, config):
        types = config.list("drop_types")
        self.types = frozenset(DEFAULT_DROP_TYPES if types is None else types)
        lb.info(f"dropping {len(types if types is not None else DEFAULT_DROP_TYPES)} log types")

    def filter(self, event):
        code = event.str("data.type")
        return code is None or code not in self.types


Filter = lb.export_filter(DropNoise)
