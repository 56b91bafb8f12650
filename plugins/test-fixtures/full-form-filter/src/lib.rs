//! Test fixture: a filter with only the full form (`filter`, no `filter-detail`). It
//! drops events whose id starts with `drop` and whose source is `logbridge.auth0` — the
//! envelope fields only the full form sees.

use exports::logbridge::plugin::filter::{Event, Guest as Filter};

wit_bindgen::generate!({
    path: "../../../wit",
    world: "filter-plugin",
});

struct FullFormFilter;

impl Filter for FullFormFilter {
    fn filter(event: Event) -> bool {
        !(event.id.starts_with("drop") && event.source == "logbridge.auth0")
    }
}

export!(FullFormFilter);
