// `10-drop-noise` in JavaScript: a logbridge filter that drops high-volume, low-value
// Auth0 log types.
//
// The types to drop come from the `drop_types` key of the sidecar `[config]` table
// (comma-separated); without it, the defaults below apply (those of the Rust plugin). An
// event whose log type cannot be read is kept: a filter that is unsure never throws data
// away.

import { exportFilter, log } from "../../../sdk/js/logbridge_plugin.js";

// Token exchanges that repeat on every refresh, and management API reads.
const DEFAULT_DROP_TYPES = ["seacft", "seccft", "sertft", "mgmt_api_read"];

export const filter = exportFilter(() => ({
  fields: ["data.type"],
  envelope: false,

  init(config) {
    const types = config.list("drop_types") ?? DEFAULT_DROP_TYPES;
    this.types = new Set(types);
    log.info(`dropping ${types.length} log types`);
  },

  filter(event) {
    const code = event.str("data.type");
    return code === undefined || !this.types.has(code);
  },
}));
