//! Integration tests: one binary, topical modules (as ripgrep does). Every test talks only
//! to an emulator on 127.0.0.1.

mod common;

mod apply_json;
mod batch;
mod binary;
mod cli;
mod cli_defects;
mod cli_reference;
mod conditional_access;
mod config;
mod conventions;
mod coverage;
mod credentials;
mod directory;
mod examples;
mod export;
mod faults;
mod fixtures;
mod fleet;
mod free_tenant;
mod graph_client;
mod hardware;
mod hostile_yaml;
mod identity;
mod inputs;
mod layers;
mod managed;
mod migration;
mod names;
mod notify;
mod object_names;
mod output;
mod overlays;
mod per_user;
mod plan_props;
mod policy_rules;
mod reconcile;
mod reference_names;
mod reports;
mod resilience;
mod secrets;
mod signals;
mod throttling;
mod validate;
