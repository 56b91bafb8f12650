//! logbridge's integration tests: one binary, real plugins built from `plugins/`, and a
//! real EventBridge API (moto) where delivery is involved.

mod auth0;
mod compile_log;
mod config;
mod contention;
mod crash;
mod eventbridge;
mod eventbridge_rules;
mod faults;
mod full_disk;
mod health_page;
mod ingest;
mod loader;
mod local_sink;
mod new_command;
mod pattern_cli;
mod pipeline;
mod plugin_check;
mod plugin_init;
mod pool;
mod reload;
mod replay;
mod repository;
mod sandbox;
mod serve;
mod serve_hostile;
mod serve_stop;
mod test_command;
mod tiering;
mod workspace;
