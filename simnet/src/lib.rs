//! simnet: many real Weft nodes (the same `weft-node` code, each with its own
//! home and sled store) in one process, on a modelled network.
//!
//! - [`scenario`]: scenario files (TOML): topology, friends, traffic, faults.
//! - [`plan`]: the scenario and its seed turned into one reproducible plan.
//! - [`link`]: the link model under libp2p's memory transport (latency,
//!   jitter, bandwidth, loss, partitions, crashes).
//! - [`sim`]: starting, stopping and restarting the nodes.
//! - [`run`]: playing a plan and waiting for deliveries.
//! - [`metrics`] and [`plot`]: the JSON report and its SVG plots.

pub mod link;
pub mod metrics;
pub mod plan;
pub mod plot;
pub mod run;
pub mod scenario;
pub mod sim;

pub use metrics::Report;
pub use plan::Plan;
pub use run::run;
pub use scenario::Scenario;

/// Simulator failures.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A node failed to start.
    #[error("node {index} failed to start: {source}")]
    Start {
        /// Which node.
        index: usize,
        /// Why.
        source: weft_node::NodeError,
    },
    /// Scratch space could not be made.
    #[error("cannot create a temporary directory: {0}")]
    TempDir(std::io::Error),
    /// The scenario file is wrong.
    #[error("bad scenario: {0}")]
    BadScenario(String),
    /// A scenario step failed.
    #[error("scenario step failed: {0}")]
    Scenario(String),
    /// Results could not be written.
    #[error("cannot write results: {0}")]
    Output(String),
}
