//! Reading the tenant's directory at scale, below every kind: resolving the names that
//! declarations write where Graph takes an id into ids ([`names`]), reading users, group
//! members, role holders, the registration-details report and per-user state page by page and
//! through `$batch` ([`users`]), and each user's registered methods where the tenant has no
//! report ([`methods`]). The kinds say what they need read; the engines above call these.

pub mod methods;
pub mod names;
pub mod users;
