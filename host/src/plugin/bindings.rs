//! The one place the host binds the WIT contract in `wit/` (world `host`).
//!
//! The `host` world exports every role and `lifecycle`; a plugin exports only some of
//! them, so the loader never instantiates the world as a whole. It looks up the
//! interfaces a component has and loads each through its generated `GuestIndices`.
//! Generated code stays here, private to the `plugin` module.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "host",
    additional_derives: [PartialEq, Eq],
});

pub(crate) use self::exports::logbridge::plugin::{
    filter, filter_detail, lifecycle, router, router_detail, transformer, transformer_detail,
};
pub(crate) use self::logbridge::plugin::log;
pub(crate) use self::logbridge::plugin::types::{Destination, Event};

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
