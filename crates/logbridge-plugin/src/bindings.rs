//! The WIT contract in `wit/` bound once per role world; the second and third share the
//! first's `types` and `log`, so an SDK type is the same whichever role uses it.

#![allow(missing_docs, unreachable_pub, unsafe_code, clippy::all)]

/// The `filter-plugin` world, and the types and `log` every role shares.
pub mod filter_world {
    wit_bindgen::generate!({
        path: "wit",
        world: "filter-plugin",
        pub_export_macro: true,
        export_macro_name: "__logbridge_export_filter_world",
        default_bindings_module: "logbridge_plugin::__private::bindings::filter_world",
    });
}

/// The `transformer-plugin` world.
pub mod transformer_world {
    wit_bindgen::generate!({
        path: "wit",
        world: "transformer-plugin",
        pub_export_macro: true,
        export_macro_name: "__logbridge_export_transformer_world",
        default_bindings_module: "logbridge_plugin::__private::bindings::transformer_world",
        with: {
            "logbridge:plugin/types@0.2.0": super::filter_world::logbridge::plugin::types,
            "logbridge:plugin/log@0.2.0": super::filter_world::logbridge::plugin::log,
        },
    });
}

/// The `router-plugin` world.
pub mod router_world {
    wit_bindgen::generate!({
        path: "wit",
        world: "router-plugin",
        pub_export_macro: true,
        export_macro_name: "__logbridge_export_router_world",
        default_bindings_module: "logbridge_plugin::__private::bindings::router_world",
        with: {
            "logbridge:plugin/types@0.2.0": super::filter_world::logbridge::plugin::types,
            "logbridge:plugin/log@0.2.0": super::filter_world::logbridge::plugin::log,
        },
    });
}

pub use filter_world::logbridge::plugin::log;
pub use filter_world::logbridge::plugin::types;
