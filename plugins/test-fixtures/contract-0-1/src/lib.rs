//! Test fixture: a filter built for the earlier plugin contract, `logbridge:plugin@0.1.0`
//! (`wit/plugin.wit` here). It keeps every event; the host refuses to load it.

use exports::logbridge::plugin::filter::{Event, Guest as Filter};

wit_bindgen::generate!({
    path: "wit",
    world: "filter-plugin",
});

struct OldFilter;

impl Filter for OldFilter {
    fn filter(event: Event) -> bool {
        !event.detail.is_empty()
    }
}

export!(OldFilter);
