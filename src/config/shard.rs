//! `--shard I/N`: a deterministic share of the tenants for one of N workers (a Kubernetes
//! Indexed Job's pods, say). A tenant's share depends on its name alone — the first eight
//! bytes of its SHA-256, modulo N — so adding or removing a tenant never moves the others.

use std::str::FromStr;

/// Worker `index` of `count` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This worker, from 0 to `count - 1`.
    pub index: u64,
    /// How many workers share the tenants.
    pub count: u64,
}

impl Shard {
    /// Whether the tenant called `name` belongs to this worker.
    pub fn owns(&self, name: &str) -> bool {
        let digest = ring::digest::digest(&ring::digest::SHA256, name.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest.as_ref()[..8]);
        u64::from_be_bytes(first) % self.count == self.index
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}` is not I/N (for example 0/4)"))?;
        let parse = |v: &str, what: &str| {
            v.trim()
                .parse::<u64>()
                .map_err(|_| format!("{what} `{v}` in `{s}` is not a whole number"))
        };
        let (index, count) = (parse(i, "I")?, parse(n, "N")?);
        if count == 0 || index >= count {
            return Err(format!("`{s}`: I must be from 0 to N − 1 and N at least 1"));
        }
        Ok(Shard { index, count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_bad_ones_say_why() {
        assert_eq!("1/4".parse::<Shard>(), Ok(Shard { index: 1, count: 4 }));
        for bad in ["4/4", "1", "a/4", "0/0", "-1/4"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn every_tenant_has_exactly_one_shard_and_the_split_is_even() {
        let names: Vec<String> = (0..1000).map(|i| format!("tenant-{i}")).collect();
        let count = 4;
        let mut sizes = [0usize; 4];
        for name in &names {
            let owners: Vec<u64> = (0..count)
                .filter(|&i| Shard { index: i, count }.owns(name))
                .collect();
            assert_eq!(owners.len(), 1, "{name}");
            sizes[owners[0] as usize] += 1;
        }
        assert!(sizes.iter().all(|&s| (200..=300).contains(&s)), "{sizes:?}");
        // Deterministic: the same name, the same worker, in every process.
        assert!(
            Shard { index: 2, count: 4 }.owns("tenant-0")
                == Shard { index: 2, count: 4 }.owns("tenant-0")
        );
    }
}
