//! Test fixture: a filter that imports `wasi:http/outgoing-handler` (a stand-in of it,
//! see `wit/world.wit`) and calls it for events whose detail mentions `call-out`, so the
//! import stays in the component. logbridge refuses it at load time, naming the import.

use exports::logbridge::plugin::filter::{Event, Guest as Filter, Manifest};

wit_bindgen::generate!({
    path: ["../../../wit", "wit"],
    world: "fixture:refused-import/filter-with-http",
    // Bindings for the `wasi:http` stand-in too (wit-bindgen expects `wasi:*` from a crate).
    generate_all,
});

struct RefusedImport;

impl Filter for RefusedImport {
    fn init(_: Vec<(String, String)>) -> Result<Manifest, String> {
        Ok(Manifest {
            fields: Vec::new(),
            envelope: false,
        })
    }

    fn filter(event: Event) -> Result<bool, String> {
        if event.detail.contains("call-out") {
            return Ok(wasi::http::outgoing_handler::handle(&event.detail) == 200);
        }
        Ok(true)
    }
}

export!(RefusedImport);
