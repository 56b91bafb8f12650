//! Test fixture: a valid WebAssembly component of the wrong world (`wasi:cli/command`),
//! which logbridge must refuse to load as a plugin.

fn main() {
    println!("I am a command, not a logbridge plugin");
}
