//! Reading the tenant's directory at scale, below every kind: resolving the names that
//! declarations write where Graph takes an id into ids ([`names`]), and reading users, group
//! members, the registration-details report and per-user state page by page and through
//! `$batch` ([`users`]). The kinds say what they need read; the engines above call these.

pub mod names;
pub mod users;
