//! Examples of embedding logbridge in an application; each lives in `examples/` and runs
//! with `cargo run -p logbridge-examples --example NAME`.
