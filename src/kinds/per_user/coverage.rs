//! Who a list of targets covers, at tenant scale.

use super::RuleTarget;
use crate::simulate::directory::{Directory, parse_guid};

/// Whether `target` covers user `index`. Names must have been resolved to ids.
pub fn covers(target: &RuleTarget, dir: &Directory, index: u32) -> bool {
    match target {
        RuleTarget::AllUsers => true,
        RuleTarget::Group(id) => dir.is_member(id, index),
        RuleTarget::User(id) => parse_guid(id)
            .is_some_and(|u| dir.users().get(index as usize).is_some_and(|r| r.id == u)),
    }
}

/// user's own entries plus the group and `all_users` targets (a handful), not the whole list:
/// a declaration naming 100,000 users is planned in time proportionate to the users.
pub(crate) struct Coverage<'a> {
    targets: Vec<&'a RuleTarget>,
    /// Positions of the user targets, by object id, in the order written.
    by_user: std::collections::HashMap<u128, Vec<usize>>,
    /// Positions of the other targets, in the order written.
    others: Vec<usize>,
}

impl<'a> Coverage<'a> {
    pub(crate) fn new(targets: Vec<&'a RuleTarget>) -> Self {
        let mut by_user: std::collections::HashMap<u128, Vec<usize>> = Default::default();
        let mut others = Vec::new();
        for (n, t) in targets.iter().enumerate() {
            match t {
                RuleTarget::User(id) => {
                    // A name left unresolved covers nobody.
                    if let Some(u) = parse_guid(id) {
                        by_user.entry(u).or_default().push(n);
                    }
                }
                _ => others.push(n),
            }
        }
        Self {
            targets,
            by_user,
            others,
        }
    }

    /// The user targets that name user `index`, in the order written.
    pub(crate) fn users(&self, dir: &Directory, index: u32) -> &[usize] {
        dir.users()
            .get(index as usize)
            .and_then(|u| self.by_user.get(&u.id))
            .map_or(&[], Vec::as_slice)
    }

    /// The group and `all_users` targets that cover user `index`, in the order written.
    pub(crate) fn others<'s>(
        &'s self,
        dir: &'s Directory,
        index: u32,
    ) -> impl Iterator<Item = usize> + 's {
        self.others
            .iter()
            .copied()
            .filter(move |&n| covers(self.targets[n], dir, index))
    }

    /// Every target that covers user `index`, in the order written.
    pub(crate) fn covering(&self, dir: &Directory, index: u32) -> Vec<usize> {
        let mut out: Vec<usize> = self.users(dir, index).to_vec();
        out.extend(self.others(dir, index));
        out.sort_unstable();
        out
    }
}

/// The users a declaration covers, by index.
pub fn scope(dir: &Directory, targets: &[&RuleTarget], everyone: bool) -> Vec<u32> {
    let coverage = Coverage::new(targets.to_vec());
    (0..dir.users().len() as u32)
        .filter(|&i| {
            everyone
                || !coverage.users(dir, i).is_empty()
                || coverage.others(dir, i).next().is_some()
        })
        .collect()
}
