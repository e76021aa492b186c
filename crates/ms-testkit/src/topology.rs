//! Adjacency matrices for test networks (go-p2p's p2ptest): which node may talk to which.
//!
//! ```
//! use ms_testkit::topology::Adjacency;
//!
//! let ring = Adjacency::ring(5);
//! assert!(ring.linked(0, 4) && ring.linked(0, 1) && !ring.linked(0, 2));
//! assert_eq!(ring.neighbours(2).collect::<Vec<_>>(), [1, 3]);
//! let random = Adjacency::random(20, 0.2, 7);
//! assert_eq!(random, Adjacency::random(20, 0.2, 7)); // seeded: same seed, same graph
//! assert!(Adjacency::line(4).is_connected() && Adjacency::full(4).edges().count() == 6);
//! ```

use ms_swarm::SeedRng;

/// An undirected graph over nodes `0..n`, without self-links, as a symmetric matrix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Adjacency {
    n: usize,
    links: Vec<bool>,
}

impl Adjacency {
    /// `n` nodes and no link.
    pub fn empty(n: usize) -> Self {
        Self {
            n,
            links: vec![false; n * n],
        }
    }

    /// A line: `i` linked to `i + 1`.
    pub fn line(n: usize) -> Self {
        let mut a = Self::empty(n);
        for i in 1..n {
            a.link(i - 1, i);
        }
        a
    }

    /// A ring: a line with the last node linked back to the first (for `n > 2`).
    pub fn ring(n: usize) -> Self {
        let mut a = Self::line(n);
        if n > 2 {
            a.link(n - 1, 0);
        }
        a
    }

    /// Every node linked to every other.
    pub fn full(n: usize) -> Self {
        let mut a = Self::empty(n);
        for i in 0..n {
            for j in i + 1..n {
                a.link(i, j);
            }
        }
        a
    }

    /// Each pair linked with probability `p`, drawn from `seed` (the same seed gives the same
    /// graph). Not necessarily connected: check [`is_connected`](Adjacency::is_connected).
    pub fn random(n: usize, p: f64, seed: u64) -> Self {
        let mut rng = SeedRng::new(seed);
        let mut a = Self::empty(n);
        for i in 0..n {
            for j in i + 1..n {
                if rng.chance(p) {
                    a.link(i, j);
                }
            }
        }
        a
    }

    /// Links `i` and `j` (both ways); a self-link is ignored.
    ///
    /// # Panics
    /// When `i` or `j` is not a node.
    pub fn link(&mut self, i: usize, j: usize) {
        assert!(i < self.n && j < self.n, "no such node");
        if i != j {
            self.links[i * self.n + j] = true;
            self.links[j * self.n + i] = true;
        }
    }

    /// The number of nodes.
    pub fn len(&self) -> usize {
        self.n
    }

    /// True for a graph of no node.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Whether `i` and `j` are linked (false for nodes out of range).
    pub fn linked(&self, i: usize, j: usize) -> bool {
        i < self.n && j < self.n && self.links[i * self.n + j]
    }

    /// The nodes linked to `i`, in increasing order.
    pub fn neighbours(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        (0..self.n).filter(move |&j| self.linked(i, j))
    }

    /// Every link once, as `(i, j)` with `i < j`.
    pub fn edges(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        (0..self.n).flat_map(move |i| {
            (i + 1..self.n)
                .filter(move |&j| self.linked(i, j))
                .map(move |j| (i, j))
        })
    }

    /// Whether every node can reach every other through links.
    pub fn is_connected(&self) -> bool {
        if self.n == 0 {
            return true;
        }
        let mut seen = vec![false; self.n];
        let mut stack = vec![0];
        seen[0] = true;
        while let Some(i) = stack.pop() {
            for j in self.neighbours(i) {
                if !seen[j] {
                    seen[j] = true;
                    stack.push(j);
                }
            }
        }
        seen.into_iter().all(|s| s)
    }
}

#[cfg(test)]
mod tests {
    use super::Adjacency;

    #[test]
    fn shapes() {
        assert_eq!(Adjacency::line(5).edges().count(), 4);
        assert_eq!(Adjacency::ring(5).edges().count(), 5);
        assert_eq!(Adjacency::ring(2).edges().count(), 1);
        assert_eq!(Adjacency::full(5).edges().count(), 10);
        assert!(Adjacency::ring(6).is_connected());
        assert!(!Adjacency::empty(2).is_connected());
        let r = Adjacency::random(30, 0.5, 1);
        for (i, j) in r.edges() {
            assert!(r.linked(j, i));
        }
        assert_ne!(r, Adjacency::random(30, 0.5, 2));
        let count = r.edges().count();
        assert!(count > 150 && count < 285, "{count} of 435 links at p=0.5");
        assert_eq!(Adjacency::random(10, 0.0, 3), Adjacency::empty(10));
        assert_eq!(Adjacency::random(10, 1.0, 3), Adjacency::full(10));
    }
}
