//! The one place the host binds the WIT contract in `wit/` (world `host`).
//!
//! The `host` world exports every role; a plugin exports only one, so the loader never
//! instantiates the world as a whole. It looks up the role a component exports and loads
//! it through its generated `GuestIndices`. Generated code stays here, private to the
//! `plugin` module.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "host",
    additional_derives: [PartialEq, Eq],
});

pub(crate) use self::exports::logbridge::plugin::{filter, router, transformer};
pub(crate) use self::logbridge::plugin::log;
pub(crate) use self::logbridge::plugin::types::{
    Destination, Edit, Envelope, Event as WireEvent, Manifest, Transformed,
};

/// The contract version this host speaks.
pub(crate) const CONTRACT: &str = "logbridge:plugin@0.2.0";

/// Fully qualified export names, as they appear in a component's exports.
pub(crate) mod names {
    pub(crate) const FILTER: &str = "logbridge:plugin/filter@0.2.0";
    pub(crate) const TRANSFORMER: &str = "logbridge:plugin/transformer@0.2.0";
    pub(crate) const ROUTER: &str = "logbridge:plugin/router@0.2.0";
    /// The package prefix of every export of an earlier contract version.
    pub(crate) const ANY_VERSION: &str = "logbridge:plugin/";
}

/// The world of `wit/` a plugin of `role` targets.
pub(crate) fn world_of(role: super::Role) -> &'static str {
    match role {
        super::Role::Filter => "filter-plugin",
        super::Role::Transformer => "transformer-plugin",
        super::Role::Router => "router-plugin",
    }
}

#[cfg(test)]
mod tests {
    use super::super::Role;
    use super::{CONTRACT, names, world_of};

    #[test]
    fn the_names_are_those_of_the_wit() {
        let wit = include_str!("../../../wit/plugin.wit");
        for role in [Role::Filter, Role::Transformer, Role::Router] {
            assert!(wit.contains(&format!("world {} {{", world_of(role))));
            assert!(wit.contains(&format!("interface {role} {{")));
        }
        assert!(wit.contains(&format!("package {CONTRACT};")));
        for name in [names::FILTER, names::TRANSFORMER, names::ROUTER] {
            assert!(
                name.ends_with(&CONTRACT["logbridge:plugin".len()..]),
                "{name}"
            );
        }
    }
}
