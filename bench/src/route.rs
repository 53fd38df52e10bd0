//! The service's choice of endpoint, one implementation for every backend.
//!
//! The simulator, the local backend's load generator and the k8s backend's
//! port-forwards all hand each request to a [`Router`] together with the
//! ready endpoints in pod order; what differs between them is only how
//! they know which endpoints are ready. Round-robin starts at the first
//! endpoint of a trial and moves one step per request, whether or not the
//! set changed in between (as IPVS `rr` keeps its position); random draws
//! from the trial's `routing` stream, so both arms of a seed route alike
//! while they hold the same endpoints.

use crate::campaign::Routing;
use crate::rng::{self, Stream};
use rand::Rng;

/// Picks an endpoint per request as the scenario's routing says.
pub struct Router {
    routing: Routing,
    /// Requests routed round-robin so far.
    next: usize,
    rng: Stream,
}

impl Router {
    /// A router for one trial of seed `seed`.
    pub fn new(routing: Routing, seed: u64) -> Router {
        Router {
            routing,
            next: 0,
            rng: rng::stream(seed, "routing", 0),
        }
    }

    /// The routing it applies.
    pub fn routing(&self) -> Routing {
        self.routing
    }

    /// The endpoint for the next request among `ready` (in pod order), or
    /// `None` when none is ready. `least` gives the least-outstanding
    /// endpoint when the routing asks for it (the first of `ready` if it
    /// gives none); backends that cannot count outstanding requests refuse
    /// that routing before a trial starts.
    pub fn pick<T: Copy>(&mut self, ready: &[T], least: impl FnOnce() -> Option<T>) -> Option<T> {
        let first = *ready.first()?;
        Some(match self.routing {
            Routing::Random => ready[self.rng.gen_range(0..ready.len())],
            Routing::RoundRobin => {
                let e = ready[self.next % ready.len()];
                self.next = self.next.wrapping_add(1);
                e
            }
            Routing::LeastOutstanding => least().unwrap_or(first),
        })
    }

    /// The endpoint for the next request among `pods`, each given in pod
    /// order with its address while it serves (`None` otherwise), as the
    /// local backend and the k8s backend's port-forwards hold them; `None`
    /// when none serves.
    pub fn pick_serving<A: Copy>(
        &mut self,
        pods: impl IntoIterator<Item = (u32, Option<A>)>,
    ) -> Option<(u32, A)> {
        let ready: Vec<(u32, A)> = pods
            .into_iter()
            .filter_map(|(pod, addr)| Some((pod, addr?)))
            .collect();
        self.pick(&ready, || None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_starts_at_the_first_endpoint_and_keeps_its_count() {
        let mut r = Router::new(Routing::RoundRobin, 1);
        let got: Vec<u32> = (0..4)
            .filter_map(|_| r.pick(&[10, 11, 12], || None))
            .collect();
        assert_eq!(got, [10, 11, 12, 10]);
        // The fifth request on a shrunken set: position 4 of 2.
        assert_eq!(r.pick(&[10, 11], || None), Some(10));
        assert_eq!(r.pick::<u32>(&[], || None), None);
        assert_eq!(r.pick(&[10, 11], || None), Some(11));
    }

    #[test]
    fn random_is_the_seeds_routing_stream_and_least_falls_back_to_the_first() {
        let mut a = Router::new(Routing::Random, 7);
        let mut b = Router::new(Routing::Random, 7);
        let mut s = rng::stream(7, "routing", 0);
        for _ in 0..50 {
            let want = s.gen_range(0..5usize);
            assert_eq!(a.pick(&[0usize, 1, 2, 3, 4], || None), Some(want));
            assert_eq!(b.pick(&[0usize, 1, 2, 3, 4], || None), Some(want));
        }
        let mut l = Router::new(Routing::LeastOutstanding, 7);
        assert_eq!(l.pick(&[3, 4], || Some(4)), Some(4));
        assert_eq!(l.pick(&[3, 4], || None), Some(3));
    }
}
