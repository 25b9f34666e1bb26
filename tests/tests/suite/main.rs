//! Every multi-node integration test in one test binary. Each test binary
//! links libp2p, the node and the CLI on its own, which was most of CI's
//! build time on 2 cores; one binary links them once. Run one area with
//! `cargo test -p weft-tests --test suite chat::` and one test by its name.

mod bad_input;
mod chat;
mod chat_bad_input;
mod cli;
mod devices;
mod files;
mod files_bad_input;
mod groups;
mod hostile_store;
mod mdns_netns;
mod moments;
mod moments_injection;
mod nearby;
mod nodes;
mod oa;
mod oa_injection;
mod pay;
mod strangers;
mod web;
mod web_browser;

/// The `weft` binary under test. Cargo tells only integration-test crates
/// where it is (at compile time), so the path lives here rather than in the
/// harness library; every module passes it to [`weft_tests::Weft::new`].
pub const BIN: &str = env!("CARGO_BIN_EXE_weft-under-test");
