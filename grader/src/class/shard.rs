//! `--shard K/N`: this machine's share of a class, so a CI matrix of N jobs grades it in
//! parallel. Submissions are sorted by name first, and shard K keeps every N-th one from
//! the K-th on, so the shares are disjoint, cover the class, and need no coordination.

use std::fmt;
use std::str::FromStr;

/// Shard `k` of `n`, counting from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub k: usize,
    pub n: usize,
}

impl Shard {
    /// Whether the submission at `index` (in name order, from 0) belongs to this shard.
    pub fn keeps(self, index: usize) -> bool {
        index % self.n == self.k - 1
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.k, self.n)
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Shard, String> {
        let parsed = text.split_once('/').and_then(|(k, n)| {
            Some((
                k.trim().parse::<usize>().ok()?,
                n.trim().parse::<usize>().ok()?,
            ))
        });
        let Some((k, n)) = parsed else {
            return Err(format!(
                "`{text}` is not a shard: write K/N, like `1/4` for the first of four shares"
            ));
        };
        if n == 0 {
            return Err("a class cannot be split into 0 shares: N must be 1 or more".into());
        }
        if k == 0 || k > n {
            return Err(format!(
                "there is no shard {k} of {n}: K counts from 1 to {n} (`1/{n}` … `{n}/{n}`)"
            ));
        }
        Ok(Shard { k, n })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        assert_eq!("2/3".parse(), Ok(Shard { k: 2, n: 3 }));
        for bad in ["x", "0/2", "3/2", "1/0", "1/", "/2", "-1/2"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn shards_are_disjoint_and_cover_everything() {
        let shards = [
            Shard { k: 1, n: 3 },
            Shard { k: 2, n: 3 },
            Shard { k: 3, n: 3 },
        ];
        for index in 0..10 {
            assert_eq!(shards.iter().filter(|s| s.keeps(index)).count(), 1);
        }
    }
}
