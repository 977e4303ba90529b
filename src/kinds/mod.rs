//! The kinds of document mfactl manages, one folder each, behind one set of traits.
//!
//! A kind is what one `kind:` names: how its spec is read and checked (`Declare::declare`),
//! which names its targets use ([`Kind::names`]), what it declares once those names are
//! object ids ([`Kind::desired`]), and where its steps go in a plan ([`Kind::PHASE`]). Then
//! one of the shapes says how the tenant converges:
//!
//! - [`Singleton`]: one resource read with one GET and written with PATCH (the
//!   authentication methods policy, security defaults): [`Singleton::changes`] compares the
//!   desired with the live resource into minimal PATCHes, [`Singleton::changed`] finds a
//!   PATCHed resource in a fresh read to verify it.
//! - [`PerUser`]: state on each user, read and written at scale through `$batch` (legacy
//!   per-user MFA, sign-in preferences): [`PerUser::targets`] says whom it covers,
//!   [`PerUser::plan`] compares each user read with what the kind declares for them.
//!
//! These are crossplane-runtime's Observe/Update and the Terraform plugin framework's
//! Read/Update, with Graph's payloads as the observation; import is `mfactl export`, in
//! each kind's `export` module. The loader (`crate::policy`), the plan and apply engines and
//! the reports stay above the kinds and reach them through [`KindId`], [`Declared`],
//! [`PolicySet`] and these traits.
//!
//! # Adding a kind
//!
//! A new folder `src/kinds/<kind>/` implementing [`Kind`] and one shape, and one line in the
//! `kinds!` invocation at the end of this file, under its shape. The line gives the kind's
//! variant (the name after `kind:`), the field that holds it in [`PolicySet`],
//! [`DesiredState`] and [`LiveState`], and the type implementing [`Kind`]; the loader, the
//! plan, apply and its verification reach the kind through what the macro generates.

pub mod authentication_strength;
pub mod change;
pub mod collection;
pub mod conditional_access;
pub mod declarable;
pub mod diff;
pub mod hardware_oath;
pub mod methods_policy;
pub mod named_location;
pub mod per_user;
pub mod per_user_mfa;
pub mod security_defaults;
pub mod sign_in_preferences;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::simulate::directory::{Directory, UserState};
use crate::source::diagnostic::{Finding, Location, Pos};
use crate::source::yaml::Node;
use crate::tenant::names::{Names, Resolution};
use crate::tenant::users::UserResource;

pub use change::{PlanError, PropertyChange, ResourceChange};
pub use collection::{Collection, Unmanaged};
pub use per_user::{KindUserPlan, RuleTarget};

/// Where a kind's steps go in a plan, in the order they are sent. Each step of a plan says
/// why it comes where it does by its phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// What other kinds reference (named locations, authentication strengths), created
    /// before what uses it.
    References,
    /// How people do MFA: the authentication methods policy and its method configurations,
    /// set before anything requires it.
    Methods,
    /// What requires MFA in place of security defaults: Conditional Access policies.
    Protection,
    /// A tenant-wide switch of protection (security defaults), once what replaces it is in
    /// place.
    Switch,
    /// State on each user (per-user MFA, sign-in preferences), once the tenant-wide
    /// settings it depends on hold.
    Users,
}

/// A document's spec, and where it is, as a kind's reader gets it.
pub(crate) struct Spec<'a> {
    /// The value of `spec:` (a mapping).
    pub node: &'a Node,
    /// Where the `spec` key is written.
    pub key_pos: Pos,
    /// `metadata.name` (empty when missing, which the envelope reports).
    pub name: String,
    /// Where the document starts.
    pub document: Location,
    /// The file the document is in.
    pub file: &'a Path,
}

/// What every kind is: its name, its phase, and how its declaration is read, named and
/// resolved.
pub trait Kind {
    /// The name written after `kind:`.
    const NAME: &'static str;
    /// Where its steps go in a plan.
    const PHASE: Phase;
    /// What one document declares, as read (names still as written).
    type Declared: std::fmt::Debug + Clone + PartialEq + Serialize;
    /// What the plan compares with the tenant: the declaration with names resolved.
    type Desired: std::fmt::Debug + Clone + PartialEq;

    /// Adds every name it writes where Graph takes an id (group display names, UPNs, and
    /// the display names of directory roles, named locations and strengths), each with where
    /// it is written, to be resolved before planning; and the names of the items it creates
    /// ([`Names::declare`]), which others may reference.
    fn names(declared: &Self::Declared, names: &mut Names);

    /// The declaration with every name replaced by the object id it resolved to.
    fn desired(declared: &Self::Declared, resolved: &Resolution) -> Self::Desired;
}

/// How a kind's spec is read: crate-internal, because what it reads (YAML nodes with
/// positions) and reports (findings) are the loader's own types.
pub(crate) trait Declare: Kind {
    /// Reads and checks a document's spec against the CSDL and the kind's rules: the
    /// declaration (if its spec could be read at all) and every finding, positions in the
    /// document's file.
    fn declare(spec: &Spec<'_>) -> (Option<Self::Declared>, Vec<Finding>);
}

/// A kind that is one resource of the tenant, read with one GET and written with PATCH.
pub trait Singleton: Kind {
    /// Its Graph path, version included.
    const PATH: &'static str;

    /// The PATCHes that make `live` (the GET of [`Singleton::PATH`], `None` when it was not
    /// read) match `desired`: only what differs, in the order to send.
    fn changes(
        desired: &Self::Desired,
        live: Option<&Value>,
    ) -> Result<Vec<ResourceChange>, PlanError>;

    /// The resource `change` (one of this kind's) was sent to, found in a fresh `live` read.
    fn changed<'a>(change: &ResourceChange, live: &'a Value) -> Option<&'a Value>;
}

/// A kind that is state on each user, read and written through `$batch`.
pub trait PerUser: Kind {
    /// The per-user resource it reads and writes.
    const RESOURCE: UserResource;
    /// The singletons its plan is weighed against, by path, read with it even when not
    /// declared.
    const READS: &'static [&'static str] = &[];

    /// The targets that say whom it covers, names resolved.
    fn targets(desired: &Self::Desired) -> Vec<&RuleTarget>;

    /// Whether it covers every user whatever its targets (a state declared for everyone).
    fn everyone(desired: &Self::Desired) -> bool;

    /// The changes that make the users read match `desired`, each with its user's index;
    /// `after` (every user's state) is updated with what they change.
    fn plan(desired: &Self::Desired, dir: &Directory, after: &mut [UserState]) -> KindUserPlan;
}

/// Declares the kinds, one line each under its shape: `Variant => field: Type`, where
/// `Variant` is the name after `kind:` ([`Kind::NAME`] must be the same), `field` the name of
/// the fields that hold it in [`PolicySet`], [`DesiredState`] and (for a singleton)
/// [`LiveState`], and `Type` the type implementing [`Kind`] and its shape. The order of the
/// lines is the order of the kinds: of names to resolve, reads, and steps within a phase.
macro_rules! kinds {
    (
        collections { $($(#[$cdoc:meta])* $cvariant:ident => $cfield:ident: $ckind:ty,)* }
        singletons { $($(#[$sdoc:meta])* $svariant:ident => $sfield:ident: $skind:ty,)* }
        per_user { $($(#[$udoc:meta])* $uvariant:ident => $ufield:ident: $ukind:ty,)* }
    ) => {
        /// The kinds of document: a collection kind's documents are keyed by their name,
        /// every other kind is declared at most once per policy set.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum KindId {
            $($(#[$cdoc])* $cvariant,)*
            $($(#[$sdoc])* $svariant,)*
            $($(#[$udoc])* $uvariant,)*
        }

        impl KindId {
            /// Every kind, in the order registered.
            pub const ALL: &'static [KindId] =
                &[$(KindId::$cvariant,)* $(KindId::$svariant,)* $(KindId::$uvariant,)*];

            /// The name written after `kind:`.
            pub fn name(self) -> &'static str {
                match self {
                    $(KindId::$cvariant => <$ckind as Kind>::NAME,)*
                    $(KindId::$svariant => <$skind as Kind>::NAME,)*
                    $(KindId::$uvariant => <$ukind as Kind>::NAME,)*
                }
            }

            /// Whether its documents are items of a collection, keyed by `metadata.name`.
            pub fn is_collection(self) -> bool {
                match self {
                    $(KindId::$cvariant => true,)*
                    _ => false,
                }
            }

            /// The kind written `name` after `kind:`.
            pub fn named(name: &str) -> Option<KindId> {
                KindId::ALL.iter().copied().find(|k| k.name() == name)
            }

            /// Reads a document's spec as this kind.
            pub(crate) fn declare(self, spec: &Spec<'_>) -> (Option<Declared>, Vec<Finding>) {
                match self {
                    $(KindId::$cvariant => {
                        let (declared, found) = <$ckind as Declare>::declare(spec);
                        (declared.map(Declared::$cvariant), found)
                    })*
                    $(KindId::$svariant => {
                        let (declared, found) = <$skind as Declare>::declare(spec);
                        (declared.map(Declared::$svariant), found)
                    })*
                    $(KindId::$uvariant => {
                        let (declared, found) = <$ukind as Declare>::declare(spec);
                        (declared.map(Declared::$uvariant), found)
                    })*
                }
            }
        }

        /// What one document declares.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Declared {
            $($(#[$cdoc])* $cvariant(<$ckind as Kind>::Declared),)*
            $($(#[$sdoc])* $svariant(<$skind as Kind>::Declared),)*
            $($(#[$udoc])* $uvariant(<$ukind as Kind>::Declared),)*
        }

        /// Everything declared across the loaded files: at most one document of each kind.
        #[derive(Debug, Clone, Default, PartialEq, Serialize)]
        pub struct PolicySet {
            /// Every file read, in the order read.
            pub files: Vec<PathBuf>,
            $($(#[$cdoc])*
            #[serde(skip_serializing_if = "Vec::is_empty")]
            pub $cfield: Vec<<$ckind as Kind>::Declared>,)*
            $($(#[$sdoc])* pub $sfield: Option<<$skind as Kind>::Declared>,)*
            $($(#[$udoc])* pub $ufield: Option<<$ukind as Kind>::Declared>,)*
        }

        impl PolicySet {
            /// Keeps a document's declaration in its kind's place.
            pub fn insert(&mut self, declared: Declared) {
                match declared {
                    $(Declared::$cvariant(d) => self.$cfield.push(d),)*
                    $(Declared::$svariant(d) => self.$sfield = Some(d),)*
                    $(Declared::$uvariant(d) => self.$ufield = Some(d),)*
                }
            }

            /// Whether a per-user kind is declared.
            pub fn declares_per_user(&self) -> bool {
                false $(|| self.$ufield.is_some())*
            }

            /// Every name the declarations use or declare, in the order of the kinds.
            pub fn names(&self, names: &mut Names) {
                $(for d in &self.$cfield {
                    <$ckind as Kind>::names(d, names);
                })*
                $(if let Some(d) = &self.$sfield {
                    <$skind as Kind>::names(d, names);
                })*
                $(if let Some(d) = &self.$ufield {
                    <$ukind as Kind>::names(d, names);
                })*
            }

            /// What the plan compares: each declaration with its names resolved.
            pub fn desired(&self, resolved: &Resolution) -> DesiredState {
                DesiredState {
                    $($cfield: self.$cfield.iter().map(|d| <$ckind as Kind>::desired(d, resolved)).collect(),)*
                    $($sfield: self.$sfield.as_ref().map(|d| <$skind as Kind>::desired(d, resolved)),)*
                    $($ufield: self.$ufield.as_ref().map(|d| <$ukind as Kind>::desired(d, resolved)),)*
                    named_users: Vec::new(),
                    prune: false,
                }
            }

            /// What a plan of this set reads, by path: the collections it declares items
            /// of, the singletons they are weighed against ([`Collection::READS`]), the
            /// singletons it declares, then those a declared per-user kind is weighed
            /// against ([`PerUser::READS`]).
            pub fn reads(&self) -> Vec<&'static str> {
                let mut out = Vec::new();
                $(if !self.$cfield.is_empty() {
                    out.push(<$ckind as Collection>::PATH);
                })*
                $(if !self.$cfield.is_empty() {
                    for path in <$ckind as Collection>::READS {
                        if !out.contains(path) {
                            out.push(path);
                        }
                    }
                })*
                $(if self.$sfield.is_some() && !out.contains(&<$skind as Singleton>::PATH) {
                    out.push(<$skind as Singleton>::PATH);
                })*
                $(if self.$ufield.is_some() {
                    for path in <$ukind as PerUser>::READS {
                        if !out.contains(path) {
                            out.push(path);
                        }
                    }
                })*
                out
            }
        }

        /// What the policy files declare, with every target resolved to an object id.
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct DesiredState {
            $($(#[$cdoc])* pub $cfield: Vec<<$ckind as Kind>::Desired>,)*
            $($(#[$sdoc])* pub $sfield: Option<<$skind as Kind>::Desired>,)*
            $($(#[$udoc])* pub $ufield: Option<<$ukind as Kind>::Desired>,)*
            /// The users that per-user targets name directly: object id and UPN.
            pub named_users: Vec<(String, String)>,
            /// Whether live collection items no document declares are deleted (the
            /// tenant's `prune: true` in mfactl.yaml); otherwise they are listed and left.
            pub prune: bool,
        }

        impl DesiredState {
            /// The requests that make `live` match: the collections' and the singletons',
            /// ordered by phase, then in the order of the kinds; and the live collection
            /// items no document declares (deleted when `prune`).
            pub fn changes(
                &self,
                live: &LiveState,
                prune: bool,
            ) -> Result<(Vec<ResourceChange>, Vec<collection::Unmanaged>), PlanError> {
                let mut by_phase: Vec<(Phase, Vec<ResourceChange>)> = Vec::new();
                let mut unmanaged = Vec::new();
                $(if !self.$cfield.is_empty() {
                    let items = live.$cfield.as_deref().unwrap_or_default();
                    collection::check_live::<$ckind>(items)?;
                    let plan = collection::plan::<$ckind>(&self.$cfield, items, prune);
                    by_phase.push((<$ckind as Kind>::PHASE, plan.changes));
                    unmanaged.extend(plan.unmanaged);
                })*
                $(if let Some(d) = &self.$sfield {
                    let changes = <$skind as Singleton>::changes(d, live.$sfield.as_ref())?;
                    by_phase.push((<$skind as Kind>::PHASE, changes));
                })*
                by_phase.sort_by_key(|(phase, _)| *phase);
                let changes = by_phase.into_iter().flat_map(|(_, changes)| changes).collect();
                Ok((changes, unmanaged))
            }

            /// Whom each per-user kind declared covers, in the order of the kinds.
            pub fn per_user_scopes(&self) -> Vec<UserScope<'_>> {
                let mut out = Vec::new();
                $(if let Some(d) = &self.$ufield {
                    out.push(UserScope {
                        resource: <$ukind as PerUser>::RESOURCE,
                        targets: <$ukind as PerUser>::targets(d),
                        everyone: <$ukind as PerUser>::everyone(d),
                    });
                })*
                out
            }

            /// Each per-user kind's plan against the users read, in the order of the kinds;
            /// `after` takes each kind's changes in turn.
            pub fn per_user_plans(&self, dir: &Directory, after: &mut [UserState]) -> Vec<KindUserPlan> {
                let mut out = Vec::new();
                $(if let Some(d) = &self.$ufield {
                    out.push(<$ukind as PerUser>::plan(d, dir, after));
                })*
                out
            }
        }

        /// The tenant as read: the singletons the declaration touches, each the body of one
        /// GET of its path.
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        #[serde(rename_all = "camelCase")]
        pub struct LiveState {
            $($(#[$cdoc])*
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub $cfield: Option<Vec<Value>>,)*
            $($(#[$sdoc])* pub $sfield: Option<Value>,)*
        }

        impl LiveState {
            /// Every singleton's path, in the order of the kinds.
            pub const PATHS: &'static [&'static str] = &[$(<$skind as Singleton>::PATH,)*];
            /// Every collection's path, in the order of the kinds.
            pub const COLLECTIONS: &'static [&'static str] =
                &[$(<$ckind as Collection>::PATH,)*];

            /// Each singleton's path and what was read of it, in the order of the kinds;
            /// then each collection read, as an array.
            pub fn resources(&self) -> Vec<(&'static str, Option<Value>)> {
                let mut out = vec![$((<$skind as Singleton>::PATH, self.$sfield.clone()),)*];
                $(if let Some(items) = &self.$cfield {
                    out.push((<$ckind as Collection>::PATH, Some(Value::Array(items.clone()))));
                })*
                out
            }

            /// Keeps the items a listing of `path` returned in its kind's place; `false`
            /// if no collection has that path.
            pub fn insert_collection(&mut self, path: &str, items: Vec<Value>) -> bool {
                $(if path == <$ckind as Collection>::PATH {
                    self.$cfield = Some(items);
                    return true;
                })*
                false
            }

            /// Keeps what a GET of `path` returned in its kind's place; `false` if no
            /// singleton has that path.
            pub fn insert(&mut self, path: &str, body: Value) -> bool {
                $(if path == <$skind as Singleton>::PATH {
                    self.$sfield = Some(body);
                    return true;
                })*
                false
            }

            /// The resource a PATCH was sent to, found in this (fresh) read.
            pub fn changed(&self, change: &ResourceChange) -> Option<&Value> {
                $(if <$ckind as Collection>::addresses(&change.path) {
                    return collection::changed::<$ckind>(change, self.$cfield.as_deref()?);
                })*
                $(if change.path.starts_with(<$skind as Singleton>::PATH) {
                    return <$skind as Singleton>::changed(change, self.$sfield.as_ref()?);
                })*
                None
            }
        }
    };
}

/// Whom a per-user kind covers, for the directory reads a plan needs.
pub struct UserScope<'a> {
    /// The per-user resource it reads.
    pub resource: UserResource,
    /// Its targets, names resolved.
    pub targets: Vec<&'a RuleTarget>,
    /// Whether it covers every user whatever its targets.
    pub everyone: bool,
}

kinds! {
    collections {
        /// `NamedLocation`: IP ranges or countries that Conditional Access policies name.
        NamedLocation => named_locations: named_location::NamedLocation,
        /// `AuthenticationStrength`: a custom set of method combinations a policy requires.
        AuthenticationStrength => authentication_strengths: authentication_strength::AuthenticationStrength,
        /// `ConditionalAccessPolicy`: who must do what to reach which resource.
        ConditionalAccessPolicy => conditional_access_policies: conditional_access::ConditionalAccessPolicy,
        /// `HardwareOathTokens`: a hardware OATH token of the inventory, by serial number,
        /// and the user it is assigned to.
        HardwareOathTokens => hardware_oath_tokens: hardware_oath::HardwareOathTokens,
    }
    singletons {
        /// `AuthenticationMethodsPolicy`: system-preferred MFA, the tenant-wide settings and
        /// every method configuration.
        AuthenticationMethodsPolicy => methods_policy: methods_policy::MethodsPolicy,
        /// `SecurityDefaults`: on or off.
        SecurityDefaults => security_defaults: security_defaults::SecurityDefaults,
    }
    per_user {
        /// `PerUserMfa`: legacy per-user MFA state.
        PerUserMfa => per_user_mfa: per_user_mfa::PerUserMfa,
        /// `SignInPreferences`: each user's default MFA method and system-preferred flag.
        SignInPreferences => sign_in_preferences: sign_in_preferences::SignInPreferences,
    }
}
