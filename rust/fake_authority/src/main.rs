//! Placeholder: the fake authority binary arrives with the device-flow work.
fn main() {}
