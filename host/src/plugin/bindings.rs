//! The one place the host binds the WIT contract in `wit/` (world `host`).
//!
//! The `host` world exports every role and `lifecycle`; a plugin exports only some of
//! them, so the loader never instantiates the world as a whole. It looks up the
//! interfaces a component has and loads each through its generated `GuestIndices`.
//! Generated code stays here, private to the `plugin` module.
//!
//! The `types` interface is not generated: its `event` record is the crate's own
//! [`Event`](crate::event::Event), so an event crosses into a plugin and back without
//! being converted, and [`wit_types`] holds the rest of it.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "host",
    additional_derives: [PartialEq, Eq],
    with: {
        "logbridge:plugin/types": crate::plugin::bindings::wit_types,
    },
});

/// The WIT `types` interface, written by hand: the `event` record is
/// [`crate::event::Event`] (which derives the component model's traits itself).
// The generated bindings re-export it with `pub`, so it must be `pub`; `bindings` itself
// is private to `plugin`, so nothing here reaches the crate's API.
#[allow(unreachable_pub)]
pub mod wit_types {
    pub use crate::event::Event;

    /// Where a router sends an event (the WIT `destination` record).
    #[derive(
        Debug,
        Clone,
        PartialEq,
        Eq,
        wasmtime::component::ComponentType,
        wasmtime::component::Lift,
        wasmtime::component::Lower,
    )]
    #[component(record)]
    pub struct Destination {
        /// The event bus, by name or ARN; empty for the default bus.
        pub bus: String,
        /// Replaces the event's `source` for this destination only.
        pub source: Option<String>,
        /// Replaces the event's `detail-type` for this destination only.
        #[component(name = "detail-type")]
        pub detail_type: Option<String>,
    }

    /// A plugin's configuration: the `[config]` pairs of its sidecar, in order.
    pub type Config = Vec<(String, String)>;

    // The generated world's `add_to_linker` names these three; the host links
    // interfaces one by one (`log` only), so they are not otherwise used.

    /// What the host implements of `types` (nothing: it has no functions).
    #[allow(dead_code)]
    pub trait Host {}

    impl<H: Host + ?Sized> Host for &mut H {}

    /// [`Host`] with store access.
    #[allow(dead_code)]
    pub trait HostWithStore<T>: wasmtime::component::HasData {}

    impl<H: ?Sized, T> HostWithStore<T> for H where H: wasmtime::component::HasData {}

    /// Adds `types` to `linker`: an interface without functions, so nothing.
    #[allow(dead_code)]
    pub fn add_to_linker<T, D>(
        linker: &mut wasmtime::component::Linker<T>,
        host_getter: fn(&mut T) -> D::Data<'_>,
    ) -> wasmtime::Result<()>
    where
        D: HostWithStore<T>,
        for<'a> D::Data<'a>: Host,
        T: 'static,
    {
        let _ = host_getter;
        linker.instance("logbridge:plugin/types@0.1.0")?;
        Ok(())
    }
}

pub(crate) use self::exports::logbridge::plugin::{
    filter, filter_detail, lifecycle, router, router_detail, transformer, transformer_detail,
};
pub(crate) use self::logbridge::plugin::log;
pub(crate) use self::wit_types::Destination;

/// Fully qualified export names, as they appear in a component's exports.
pub(crate) mod names {
    pub(crate) const FILTER: &str = "logbridge:plugin/filter@0.1.0";
    pub(crate) const TRANSFORMER: &str = "logbridge:plugin/transformer@0.1.0";
    pub(crate) const ROUTER: &str = "logbridge:plugin/router@0.1.0";
    pub(crate) const LIFECYCLE: &str = "logbridge:plugin/lifecycle@0.1.0";
    pub(crate) const FILTER_DETAIL: &str = "logbridge:plugin/filter-detail@0.1.0";
    pub(crate) const TRANSFORMER_DETAIL: &str = "logbridge:plugin/transformer-detail@0.1.0";
    pub(crate) const ROUTER_DETAIL: &str = "logbridge:plugin/router-detail@0.1.0";
}

/// The world of `wit/` whose exports are exactly a plugin's — its role, `lifecycle` or
/// not, the light form or not — if there is one (the host accepts the other mixes too).
pub(crate) fn world_of(role: super::Role, lifecycle: bool, light: bool) -> Option<&'static str> {
    use super::Role::{Filter, Router, Transformer};
    Some(match (role, lifecycle, light) {
        (Filter, false, false) => "filter-plugin",
        (Filter, true, false) => "configurable-filter-plugin",
        (Filter, true, true) => "configurable-filter-detail-plugin",
        (Transformer, false, false) => "transformer-plugin",
        (Transformer, true, false) => "configurable-transformer-plugin",
        (Transformer, false, true) => "transformer-detail-plugin",
        (Router, false, false) => "router-plugin",
        (Router, true, false) => "configurable-router-plugin",
        (Router, true, true) => "configurable-router-detail-plugin",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::super::Role;
    use super::world_of;

    #[test]
    fn every_world_named_is_a_world_of_the_wit() {
        let wit = include_str!("../../../wit/plugin.wit");
        for role in [Role::Filter, Role::Transformer, Role::Router] {
            for (lifecycle, light) in [(false, false), (true, false), (false, true), (true, true)] {
                if let Some(world) = world_of(role, lifecycle, light) {
                    assert!(wit.contains(&format!("world {world} {{")), "{world}");
                }
            }
        }
    }
}
