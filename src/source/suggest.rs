//! "Did you mean ...?" suggestions for misspelt keys, kinds, methods and enum values.

/// The edit distance between `a` and `b` counting insertions, deletions, substitutions and
/// transpositions of adjacent characters (optimal string alignment), ignoring ASCII case.
pub(crate) fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().map(|c| c.to_ascii_lowercase()).collect();
    let b: Vec<char> = b.chars().map(|c| c.to_ascii_lowercase()).collect();
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for (i, cell) in d.iter_mut().step_by(width).enumerate() {
        *cell = i;
    }
    for (j, cell) in d.iter_mut().take(width).enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[(i - 1) * width + j] + 1)
                .min(d[i * width + j - 1] + 1)
                .min(d[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[(i - 2) * width + j - 2] + 1);
            }
            d[i * width + j] = best;
        }
    }
    d[a.len() * width + b.len()]
}

/// The candidate closest to `given`, if it is close enough to be what the user meant: at most
/// a third of the longer word's characters differ (at least one may), or the given word is
/// a prefix of the candidate (`x509` for `x509Certificate`).
pub(crate) fn did_you_mean<'a, I>(given: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let lower = given.to_ascii_lowercase();
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        if candidate == given {
            continue;
        }
        let d = distance(given, candidate);
        let limit = (given.chars().count().max(candidate.chars().count()) / 3).max(1);
        let prefix = lower.len() >= 3 && candidate.to_ascii_lowercase().starts_with(&lower);
        let score = if d <= limit {
            d
        } else if prefix {
            limit + 1
        } else {
            continue;
        };
        if best.is_none_or(|(b, _)| score < b) {
            best = Some((score, candidate));
        }
    }
    best.map(|(_, c)| c)
}

/// A help line: "did you mean `x`?", if some candidate is close.
pub(crate) fn help<'a, I>(given: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    did_you_mean(given, candidates).map(|c| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_counts_transpositions_once() {
        assert_eq!(distance("state", "state"), 0);
        assert_eq!(distance("stat", "state"), 1);
        assert_eq!(distance("sate", "state"), 1);
        assert_eq!(distance("satte", "state"), 1);
        assert_eq!(distance("Fido2", "fido2"), 0);
        assert_eq!(distance("", "abc"), 3);
    }

    #[test]
    fn suggestions() {
        let methods = [
            "fido2",
            "microsoftAuthenticator",
            "sms",
            "voice",
            "x509Certificate",
        ];
        assert_eq!(did_you_mean("fido", methods), Some("fido2"));
        assert_eq!(
            did_you_mean("microsoftAuthentcator", methods),
            Some("microsoftAuthenticator")
        );
        assert_eq!(did_you_mean("FIDO2", methods), Some("fido2"));
        assert_eq!(did_you_mean("x509", methods), Some("x509Certificate"));
        assert_eq!(did_you_mean("passwordless", methods), None);
        assert_eq!(
            did_you_mean("isEnabled", ["enabled"]),
            Some("enabled"),
            "two edits in nine characters"
        );
        assert_eq!(
            did_you_mean("enabeld", ["enabled", "disabled"]),
            Some("enabled")
        );
    }
}
