//! Test fixture: a filter that imports `wasi:http/outgoing-handler` (a stand-in of it,
//! see `wit/world.wit`) and calls it for events whose id starts with `call-out`, so the
//! import stays in the component. logbridge refuses it at load time, naming the import.

use exports::logbridge::plugin::filter::{Event, Guest as Filter};

wit_bindgen::generate!({
    path: ["../../../wit", "wit"],
    world: "fixture:refused-import/filter-with-http",
    // Bindings for the `wasi:http` stand-in too (wit-bindgen expects `wasi:*` from a crate).
    generate_all,
});

struct RefusedImport;

impl Filter for RefusedImport {
    fn filter(event: Event) -> bool {
        if event.id.starts_with("call-out") {
            return wasi::http::outgoing_handler::handle(&event.id) == 200;
        }
        true
    }
}

export!(RefusedImport);
