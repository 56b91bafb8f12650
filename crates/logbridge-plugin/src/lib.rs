//! Write logbridge plugins in Rust.
//!
//! A plugin is a type that implements one of [`Filter`], [`Transformer`] or [`Router`],
//! and one [`export!`] line that makes it the component's export:
//!
//! ```ignore
//! use logbridge_plugin::{Config, Event, Filter, Reads, Result};
//!
//! struct DropNoise(Vec<String>);
//!
//! impl Reads for DropNoise {
//!     const FIELDS: &'static [&'static str] = &["data.type"];
//! }
//!
//! impl Filter for DropNoise {
//!     fn init(config: &Config) -> Result<Self> {
//!         let types = config.list("drop_types").unwrap_or(vec!["seacft"]);
//!         Ok(DropNoise(types.into_iter().map(String::from).collect()))
//!     }
//!
//!     fn filter(&self, event: &Event) -> Result<bool> {
//!         Ok(event.str("data.type")?.is_none_or(|t| !self.0.iter().any(|d| *d == t)))
//!     }
//! }
//!
//! logbridge_plugin::export!(DropNoise: Filter);
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2` (crate type `cdylib`);
//! PLUGINS.md has the whole walk-through. The SDK answers the contract's `init` for you:
//! your `init` gets the configuration, and the manifest (the fields you read, and whether
//! you read the envelope) comes from [`Reads::FIELDS`] and [`Reads::ENVELOPE`] or their
//! methods. A configuration key your `init` did not read fails the load, naming it.

#[doc(hidden)]
pub mod bindings;
mod config;
mod event;
mod lookup;
#[cfg(any(
    test,
    all(
        feature = "pool",
        target_family = "wasm",
        not(target_feature = "atomics")
    )
))]
mod pool;

/// The plugin's allocator (the `pool` feature, on by default): free lists of small
/// blocks, several times cheaper inside a plugin than the system allocator. Only on
/// single-threaded WebAssembly; see `pool.rs`.
#[cfg(all(
    feature = "pool",
    target_family = "wasm",
    not(target_feature = "atomics")
))]
#[global_allocator]
static POOL: pool::Pool = pool::Pool::new();

use std::fmt;

pub use bindings::types::{Destination, Edit, Envelope};
pub use config::{Config, ConfigError};
pub use event::{Edits, Event, FieldError};
pub use lookup::Raw;

/// Why a plugin could not handle an event (or its configuration). The message reaches
/// the failure log's row for the event, and the host's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(String);

impl Error {
    /// An error with `message`.
    pub fn msg(message: impl fmt::Display) -> Self {
        Error(message.to_string())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `?` turns these into an [`Error`] with their message; [`Error::msg`] takes any other.
macro_rules! from_errors {
    ($($error:ty),*) => {$(
        impl From<$error> for Error {
            fn from(error: $error) -> Self {
                Error(error.to_string())
            }
        }
    )*};
}

from_errors!(
    FieldError,
    ConfigError,
    serde_json::Error,
    std::num::ParseIntError,
    std::num::ParseFloatError,
    std::net::AddrParseError,
    std::str::Utf8Error
);

impl From<String> for Error {
    fn from(message: String) -> Self {
        Error(message)
    }
}

impl From<&str> for Error {
    fn from(message: &str) -> Self {
        Error(message.to_string())
    }
}

/// The result of a plugin's functions.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a plugin reads; the SDK answers it to the host from `init`.
pub trait Reads {
    /// The detail fields the plugin reads, as dotted paths (`data.type`); empty for the
    /// whole detail. The host hands over only these. For a transformer, also the fields it
    /// may edit.
    const FIELDS: &'static [&'static str] = &[];
    /// Whether the plugin reads the envelope ([`Event::envelope`]).
    const ENVELOPE: bool = false;

    /// [`Reads::FIELDS`], or fields that depend on the configuration.
    fn fields(&self) -> Vec<String> {
        Self::FIELDS.iter().map(|f| f.to_string()).collect()
    }
}

/// A filter: decides whether an event is kept.
pub trait Filter: Reads + Sized + 'static {
    /// Reads the configuration. An error stops the plugin from loading, with its message.
    ///
    /// # Errors
    /// The configuration is not usable: say which key and what to write.
    fn init(config: &Config) -> Result<Self>;

    /// `true` keeps the event, `false` drops it.
    ///
    /// # Errors
    /// The event cannot be judged: the error is recorded as the plugin's failure.
    fn filter(&self, event: &Event) -> Result<bool>;
}

/// A transformer: changes events.
pub trait Transformer: Reads + Sized + 'static {
    /// As [`Filter::init`].
    ///
    /// # Errors
    /// As [`Filter::init`].
    fn init(config: &Config) -> Result<Self>;

    /// The changes to make to the event ([`Edits::new`] for none).
    ///
    /// # Errors
    /// The event cannot be transformed: it fails, with this message in its failure row.
    fn transform(&self, event: &Event) -> Result<Edits>;
}

/// A router: names the buses an event goes to.
pub trait Router: Reads + Sized + 'static {
    /// As [`Filter::init`].
    ///
    /// # Errors
    /// As [`Filter::init`].
    fn init(config: &Config) -> Result<Self>;

    /// The destinations of the event; none at all means the default bus.
    ///
    /// # Errors
    /// The event cannot be routed: the error is recorded as the plugin's failure.
    fn route(&self, event: &Event) -> Result<Vec<Destination>>;
}

/// A destination on `bus` (empty: the host's default bus), with the event's own source
/// and detail-type.
pub fn to(bus: impl Into<String>) -> Destination {
    Destination {
        bus: bus.into(),
        source: None,
        detail_type: None,
    }
}

/// Writes to the host's log, tagged with the plugin's name.
pub mod log {
    use crate::bindings::log::{Level, log};

    /// Logs `message` at debug level.
    pub fn debug(message: &str) {
        log(Level::Debug, message);
    }

    /// Logs `message` at info level.
    pub fn info(message: &str) {
        log(Level::Info, message);
    }

    /// Logs `message` at warn level.
    pub fn warn(message: &str) {
        log(Level::Warn, message);
    }

    /// Logs `message` at error level.
    pub fn error(message: &str) {
        log(Level::Error, message);
    }
}

/// Makes `TYPE` the component's export, in its role: `export!(MyFilter: Filter)`,
/// `export!(MyTransformer: Transformer)` or `export!(MyRouter: Router)`. Use it once per
/// plugin crate.
#[macro_export]
macro_rules! export {
    ($plugin:ty: Filter) => {
        $crate::__export_role!($plugin, Filter, filter_world, filter,
            __logbridge_export_filter_world, filter -> bool, $crate::__private::same);
    };
    ($plugin:ty: Transformer) => {
        $crate::__export_role!($plugin, Transformer, transformer_world, transformer,
            __logbridge_export_transformer_world,
            transform -> $crate::__private::Transformed, $crate::__private::transformed);
    };
    ($plugin:ty: Router) => {
        $crate::__export_role!($plugin, Router, router_world, router,
            __logbridge_export_router_world,
            route -> ::std::vec::Vec<$crate::Destination>, $crate::__private::same);
    };
}

/// One role's export for [`export!`]: the contract's interface implemented by a glue
/// type that keeps the plugin made by `init` for the instance's life.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_role {
    ($plugin:ty, $role:ident, $world:ident, $interface:ident, $export:ident,
     $function:ident -> $answer:ty, $map:path) => {
        const _: () = {
            use $crate::__private::bindings::$world::exports::logbridge::plugin::$interface::Guest;
            use $crate::__private::{Manifest, State, WireConfig, WireEvent};
            ::std::thread_local! {
                static STATE: State<$plugin> = const { State::new() };
            }
            struct Glue;
            impl Guest for Glue {
                fn init(config: WireConfig) -> ::std::result::Result<Manifest, ::std::string::String> {
                    STATE.with(|state| state.init(config, <$plugin as $crate::$role>::init))
                }
                fn $function(event: WireEvent) -> ::std::result::Result<$answer, ::std::string::String> {
                    STATE.with(|state| {
                        state
                            .call(event, <$plugin as $crate::$role>::$function)
                            .map($map)
                    })
                }
            }
            $crate::__private::bindings::$world::$export!(Glue with_types_in $crate::__private::bindings::$world);
        };
    };
}

/// What [`export!`] expands to uses these; not for plugins to call.
#[doc(hidden)]
pub mod __private {
    use std::cell::OnceCell;

    pub use crate::bindings;
    pub use crate::bindings::types::{Event as WireEvent, Manifest, Transformed};

    use crate::{Config, Edits, Event, Reads, Result};

    /// The configuration as it crosses.
    pub type WireConfig = Vec<(String, String)>;

    /// One instance's plugin, made by `init`, and the fields it declared.
    pub struct State<P> {
        plugin: OnceCell<(P, Vec<String>)>,
    }

    impl<P: Reads> State<P> {
        /// No plugin yet.
        pub const fn new() -> Self {
            State {
                plugin: OnceCell::new(),
            }
        }

        /// Runs the plugin's `init`, checks every key was read, and answers the manifest.
        pub fn init(
            &self,
            config: WireConfig,
            init: fn(&Config) -> Result<P>,
        ) -> std::result::Result<Manifest, String> {
            let config = Config::new(config);
            let plugin = init(&config).map_err(|e| e.to_string())?;
            config.finish().map_err(|e| e.to_string())?;
            let fields = plugin.fields();
            let manifest = Manifest {
                fields: fields.clone(),
                envelope: P::ENVELOPE,
            };
            self.plugin
                .set((plugin, fields))
                .map_err(|_| "init was called twice on one instance".to_string())?;
            Ok(manifest)
        }

        /// Calls the plugin on `event`.
        pub fn call<T>(
            &self,
            event: WireEvent,
            f: fn(&P, &Event) -> Result<T>,
        ) -> std::result::Result<T, String> {
            let (plugin, fields) = self
                .plugin
                .get()
                .ok_or_else(|| "called before init".to_string())?;
            let event = Event::new(event.detail, event.envelope, fields);
            f(plugin, &event).map_err(|e| e.to_string())
        }
    }

    impl<P: Reads> Default for State<P> {
        fn default() -> Self {
            Self::new()
        }
    }

    /// An answer that crosses as it is.
    pub fn same<T>(answer: T) -> T {
        answer
    }

    /// `edits` as they cross.
    pub fn transformed(edits: Edits) -> Transformed {
        Transformed {
            edits: edits.edits,
            envelope: edits.envelope,
        }
    }
}
