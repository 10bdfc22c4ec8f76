//! Subcommands of the `forest-train` binary that live outside `main.rs`:
//! the registry ([`registry`]) and SageMaker training ([`training`]).

pub mod registry;
pub mod training;
