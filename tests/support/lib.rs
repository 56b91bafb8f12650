//! Support for the integration tests, by concern: where the built plugins, fixtures and
//! the `logbridge` binary are ([`fixtures`]), a real moto server ([`moto`]), the
//! fault-injecting proxy ([`fault_proxy`]), an HTTP client ([`http`]), a server under test
//! ([`served`]) and what the tests ask of the operating system ([`os`]).
//!
//! Every name the tests use is re-exported here, so a test imports from the crate root.

pub mod fault_proxy;
pub mod fixtures;
pub mod http;
pub mod moto;
pub mod os;
pub mod served;

pub use fault_proxy::FaultProxy;
pub use fixtures::{
    copy_of_plugins, fixture, generate_logs, logbridge_bin, plugins_dir, workspace_root,
};
pub use http::{HttpAnswer, http};
pub use moto::{ACCOUNT, Moto, REGION, local_sdk_config};
pub use os::raise_open_file_limit;
pub use served::{LocalServer, Served};
