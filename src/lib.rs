//! mfactl: a GitOps controller for Microsoft Entra ID multifactor-authentication policy.
//!
//! Administrators declare the policy in YAML; mfactl reads the live tenant from Microsoft
//! Graph, computes the difference and sends the smallest PATCHes that make the tenant match.
//! This crate holds the library behind the `mfactl` binary. Today it contains the local Graph
//! emulator that every test, the sandbox and every benchmark run against.

pub mod apply;
pub mod cli;
pub mod config;
pub mod controller;
pub mod emulator;
pub mod export;
pub mod graph;
pub mod kinds;
pub mod msgraph;
pub mod notify;
pub mod plan;
pub mod policy;
pub mod printer;
pub mod report;
pub mod sandbox;
pub mod simulate;
pub mod source;
pub mod support;
pub mod tap;
pub mod tenant;
