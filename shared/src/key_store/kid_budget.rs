//! The one budget shared by every fetch for an unknown AWS ALB `kid`.
//!
//! An ALB key is unauthenticated until it is fetched: the header names its `kid`, and no
//! signature can be checked before that `kid`'s key is in hand. Anyone who knows the
//! load balancer's `signer` (an ARN, not a secret) can therefore send a fresh `kid` with
//! every request, and each would cost a fetch from the region's key server, which then
//! rate-limits the origin and real key fetches start to fail. The contract ("Gateway
//! assertions") caps those fetches for the whole process: at most
//! [`FETCHES_PER_COOLDOWN`] start within any one cooldown, however many distinct `kid`s
//! arrive, and a request whose `kid` cannot be fetched now is refused without one. The
//! budget must not starve a real rotation, though: a new `kid` that many requests carry
//! is fetched within two cooldowns even while a flood of random `kid`s arrives.
//!
//! So the budget is split in two, both counted over a sliding cooldown (the starts of the
//! last fetches are kept, so no span of one cooldown ever holds more than the budget):
//! - [`OPEN_FETCHES`] first come, first served: a rotation with no flood is fetched at once;
//! - [`RESERVED_FETCHES`] for the most demanded unknown `kid`s. Refused requests are counted
//!   per `kid` in a bounded table of heavy hitters ([`Demand`], the Space-Saving algorithm of
//!   Metwally, Agrawal and El Abbadi, 2005). When a round (at least a cooldown long) ends,
//!   the `kid`s with the highest guaranteed count, at least [`MIN_DEMAND`], are elected, and
//!   only they may use the reserved fetches in the next round. A random `kid`, seen once,
//!   never outranks one carried by many requests; an attacker repeating one `kid` gets it
//!   fetched at most once per cooldown anyway (each `kid`'s own cooldown).
//!
//! Refusals are not logged one by one: each round ends with at most one summary line.
//! The clock is a parameter (`now`), so the rules are tested without sleeping.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::lock;

/// The most fetches for unknown `kid`s that start within one cooldown, for the whole
/// process (the contract's number).
pub(crate) const FETCHES_PER_COOLDOWN: usize = 10;
/// The part of the budget given to whoever asks first.
const OPEN_FETCHES: usize = 5;
/// The part of the budget kept for the most demanded `kid`s of the previous round.
const RESERVED_FETCHES: usize = FETCHES_PER_COOLDOWN - OPEN_FETCHES;
/// The fewest refused requests (guaranteed, see [`Demand`]) that make a `kid` eligible for
/// a reserved fetch: a `kid` seen once is never elected.
const MIN_DEMAND: u32 = 2;
/// The most `kid`s whose demand is counted at once: a few tens of kilobytes at most,
/// whatever the flood. Any `kid` carried by more than 1/512 of the refused requests of a
/// round is certain to be in the table.
const DEMAND_SLOTS: usize = 512;

/// Whether a fetch for an unknown `kid` may start now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Yes: the fetch is counted in the budget.
    Fetch,
    /// No: the request is refused without a fetch; a slot may be free after this long.
    Refused {
        /// How long until a retry may be admitted (at least a second, at most a cooldown).
        retry_after: Duration,
    },
}

/// The budget of fetches for unknown `kid`s, shared by every request of one key source.
pub(crate) struct KidBudget {
    cooldown: Duration,
    state: Mutex<State>,
}

struct State {
    /// Starts of the first-come fetches of the last cooldown, oldest first.
    open: VecDeque<Instant>,
    /// Starts of the reserved fetches of the last cooldown, oldest first.
    reserved: VecDeque<Instant>,
    /// When the current round began (`None` before the first request).
    round_started: Option<Instant>,
    /// The `kid`s that may use a reserved fetch in this round (at most [`RESERVED_FETCHES`]).
    elected: Vec<String>,
    /// Refused requests per `kid` in this round.
    demand: Demand,
    /// Requests refused in this round, for its summary line.
    refused: u64,
}

impl KidBudget {
    /// A budget whose rounds and sliding windows are `cooldown` long (the key set policy's
    /// refetch cooldown).
    pub(crate) fn new(cooldown: Duration) -> Self {
        Self {
            // A zero cooldown would make the budget meaningless; the policy forbids it.
            cooldown: cooldown.max(Duration::from_secs(1)),
            state: Mutex::new(State {
                open: VecDeque::with_capacity(OPEN_FETCHES),
                reserved: VecDeque::with_capacity(RESERVED_FETCHES),
                round_started: None,
                elected: Vec::with_capacity(RESERVED_FETCHES),
                demand: Demand::default(),
                refused: 0,
            }),
        }
    }

    /// Whether a fetch for the unknown `kid` may start at `now`. A yes is counted at once:
    /// the caller must start the fetch (or it is simply lost, never exceeded).
    pub(crate) fn admit(&self, kid: &str, now: Instant) -> Admission {
        let mut state = lock(&self.state);
        state.end_round_if_due(now, self.cooldown);
        expire(&mut state.open, now, self.cooldown);
        expire(&mut state.reserved, now, self.cooldown);
        if let Some(index) = state.elected.iter().position(|elected| elected == kid)
            && state.reserved.len() < RESERVED_FETCHES
        {
            state.elected.swap_remove(index);
            state.reserved.push_back(now);
            state.demand.remove(kid);
            return Admission::Fetch;
        }
        if state.open.len() < OPEN_FETCHES {
            state.open.push_back(now);
            state.elected.retain(|elected| elected != kid);
            state.demand.remove(kid);
            return Admission::Fetch;
        }
        state.demand.record(kid);
        state.refused = state.refused.saturating_add(1);
        Admission::Refused {
            retry_after: state.retry_after(now, self.cooldown),
        }
    }

    /// The `kid`s elected for reserved fetches in the current round (tests).
    #[cfg(test)]
    fn elected(&self) -> Vec<String> {
        let mut elected = lock(&self.state).elected.clone();
        elected.sort();
        elected
    }
}

impl State {
    /// Ends the round when it has lasted a cooldown: logs its summary, elects the most
    /// demanded `kid`s for the next one and starts counting afresh.
    fn end_round_if_due(&mut self, now: Instant, cooldown: Duration) {
        let Some(started) = self.round_started else {
            self.round_started = Some(now);
            return;
        };
        let lasted = now.saturating_duration_since(started);
        if lasted < cooldown {
            return;
        }
        self.elected = self.demand.top(RESERVED_FETCHES, MIN_DEMAND);
        if self.refused > 0 {
            // One line per round however many requests were refused: the flood this budget
            // stands against must not become a flood of log lines either.
            tracing::warn!(
                refused = self.refused,
                kids_counted = self.demand.len(),
                elected = self.elected.len(),
                round_secs = lasted.as_secs(),
                "{} requests with unknown kids refused without a fetch in the last cooldown",
                self.refused
            );
        }
        self.demand.clear();
        self.refused = 0;
        self.round_started = Some(now);
    }

    /// How long until a first-come fetch frees up or the round ends (an elected `kid` may
    /// then be admitted), whichever comes first; between a second and a cooldown.
    fn retry_after(&self, now: Instant, cooldown: Duration) -> Duration {
        let free_at = self
            .open
            .front()
            .and_then(|oldest| oldest.checked_add(cooldown));
        let round_ends = self
            .round_started
            .and_then(|started| started.checked_add(cooldown));
        [free_at, round_ends]
            .into_iter()
            .flatten()
            .map(|at| at.saturating_duration_since(now))
            .min()
            .unwrap_or(cooldown)
            .clamp(Duration::from_secs(1), cooldown)
    }
}

/// Drops the fetch starts that are a cooldown old or more.
fn expire(starts: &mut VecDeque<Instant>, now: Instant, cooldown: Duration) {
    while starts
        .front()
        .is_some_and(|&started| now.saturating_duration_since(started) >= cooldown)
    {
        starts.pop_front();
    }
}

/// Refused requests per `kid`, in at most [`DEMAND_SLOTS`] entries (Space-Saving): a `kid`
/// not in a full table takes the place of the least counted one and inherits its count as
/// an overestimate, kept as the entry's `error`. `count - error` is a lower bound of the
/// `kid`'s real demand, so random `kid`s flowing through the table never look demanded.
#[derive(Default)]
struct Demand {
    entries: HashMap<String, Count>,
}

#[derive(Debug, Clone, Copy)]
struct Count {
    count: u32,
    error: u32,
}

impl Count {
    /// Requests certainly carrying this `kid` since it entered the table.
    fn guaranteed(self) -> u32 {
        self.count.saturating_sub(self.error)
    }
}

impl Demand {
    fn record(&mut self, kid: &str) {
        if let Some(entry) = self.entries.get_mut(kid) {
            entry.count = entry.count.saturating_add(1);
            return;
        }
        let mut inherited = 0;
        if self.entries.len() >= DEMAND_SLOTS {
            // The least counted entry leaves (ties by name, so the choice is deterministic).
            let victim = self
                .entries
                .iter()
                .min_by(|(a_kid, a), (b_kid, b)| a.count.cmp(&b.count).then(a_kid.cmp(b_kid)))
                .map(|(victim, count)| (victim.clone(), count.count));
            if let Some((victim, count)) = victim {
                self.entries.remove(&victim);
                inherited = count;
            }
        }
        self.entries.insert(
            kid.to_owned(),
            Count {
                count: inherited.saturating_add(1),
                error: inherited,
            },
        );
    }

    fn remove(&mut self, kid: &str) {
        self.entries.remove(kid);
    }

    /// The at most `n` `kid`s of highest guaranteed demand, each at least `min`.
    fn top(&self, n: usize, min: u32) -> Vec<String> {
        let mut ranked: Vec<(&String, Count)> = self
            .entries
            .iter()
            .filter(|(_, count)| count.guaranteed() >= min)
            .map(|(kid, count)| (kid, *count))
            .collect();
        ranked.sort_by(|(a_kid, a), (b_kid, b)| {
            b.guaranteed()
                .cmp(&a.guaranteed())
                .then(b.count.cmp(&a.count))
                .then(a_kid.cmp(b_kid))
        });
        ranked
            .into_iter()
            .take(n)
            .map(|(kid, _)| kid.clone())
            .collect()
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    fn clear(&mut self) {
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOLDOWN: Duration = Duration::from_secs(10);

    fn at(start: Instant, millis: u64) -> Instant {
        start + Duration::from_millis(millis)
    }

    fn admitted(budget: &KidBudget, kid: &str, now: Instant) -> bool {
        budget.admit(kid, now) == Admission::Fetch
    }

    #[test]
    fn a_rotation_without_a_flood_is_fetched_at_once() {
        let budget = KidBudget::new(COOLDOWN);
        let start = Instant::now();
        for (i, kid) in ["a", "b", "c", "d", "e"].into_iter().enumerate() {
            let now = at(start, u64::try_from(i).unwrap_or_default());
            assert!(admitted(&budget, kid, now), "{kid}");
        }
    }

    #[test]
    fn no_cooldown_ever_starts_more_than_the_budget() {
        let budget = KidBudget::new(COOLDOWN);
        let start = Instant::now();
        let mut starts = Vec::new();
        // 60 s of a flood: a random kid every 10 ms, and a few kids repeated, so that
        // reserved fetches are used too.
        for step in 0..6000_u64 {
            let now = at(start, step * 10);
            let kid = if step % 3 == 0 {
                format!("repeated-{}", step % 7)
            } else {
                format!("random-{step}")
            };
            if admitted(&budget, &kid, now) {
                starts.push(now);
            }
        }
        assert!(starts.len() > FETCHES_PER_COOLDOWN, "{}", starts.len());
        for (i, first) in starts.iter().enumerate() {
            let within = starts[i..]
                .iter()
                .take_while(|&&later| later.duration_since(*first) < COOLDOWN)
                .count();
            assert!(
                within <= FETCHES_PER_COOLDOWN,
                "{within} fetches within a cooldown"
            );
        }
    }

    #[test]
    fn a_demanded_kid_is_fetched_through_a_flood_within_two_cooldowns() {
        let budget = KidBudget::new(COOLDOWN);
        let start = Instant::now();
        let mut fetched_at = None;
        // A random kid every millisecond; the real kid on every 50th request, from 3 s on.
        for step in 0..20_000_u64 {
            let now = at(start, step);
            if step >= 3000 && step % 50 == 0 {
                if admitted(&budget, "real", now) {
                    fetched_at = Some(now);
                    break;
                }
            } else {
                let _ = budget.admit(&format!("random-{step}"), now);
            }
        }
        let fetched_at = fetched_at.expect("the real kid was never admitted");
        let waited = fetched_at.duration_since(at(start, 3000));
        assert!(waited <= 2 * COOLDOWN, "waited {waited:?}");
    }

    #[test]
    fn kids_seen_once_are_never_elected() {
        let budget = KidBudget::new(COOLDOWN);
        let start = Instant::now();
        for step in 0..1000_u64 {
            let _ = budget.admit(&format!("random-{step}"), at(start, step));
        }
        let _ = budget.admit("twice", at(start, 1000));
        let _ = budget.admit("twice", at(start, 1001));
        // The next round elects only the kid refused twice.
        let _ = budget.admit("another", at(start, 10_001));
        assert_eq!(budget.elected(), ["twice"]);
    }

    #[test]
    fn the_most_demanded_kids_win_the_reserved_fetches() {
        let budget = KidBudget::new(COOLDOWN);
        let start = Instant::now();
        for step in 0..OPEN_FETCHES {
            assert!(admitted(&budget, &format!("first-{step}"), start));
        }
        // Eight kids refused, kid-i i+2 times; the five most demanded are elected.
        for i in 0..8_u64 {
            for _ in 0..i + 2 {
                let _ = budget.admit(&format!("kid-{i}"), at(start, 1 + i));
            }
        }
        let next_round = at(start, 10_000);
        // The first-come fetches of the last round are a cooldown old: free again. Spend them.
        for step in 0..OPEN_FETCHES {
            assert!(admitted(&budget, &format!("second-{step}"), next_round));
        }
        assert_eq!(
            budget.elected(),
            ["kid-3", "kid-4", "kid-5", "kid-6", "kid-7"]
        );
        assert!(!admitted(&budget, "kid-2", next_round));
        for i in 3..8 {
            assert!(admitted(&budget, &format!("kid-{i}"), next_round), "{i}");
        }
        assert!(!admitted(&budget, "kid-7", next_round), "elected once");
    }

    #[test]
    fn a_refusal_says_when_to_retry() {
        let budget = KidBudget::new(COOLDOWN);
        let start = Instant::now();
        for step in 0..OPEN_FETCHES {
            assert!(admitted(&budget, &format!("k{step}"), start));
        }
        assert_eq!(
            budget.admit("late", at(start, 7500)),
            Admission::Refused {
                retry_after: Duration::from_millis(2500)
            }
        );
        assert_eq!(
            budget.admit("later", at(start, 9900)),
            Admission::Refused {
                retry_after: Duration::from_secs(1)
            }
        );
        assert!(admitted(&budget, "after", at(start, 10_000)));
    }

    #[test]
    fn the_demand_table_is_bounded_and_keeps_heavy_hitters() {
        let mut demand = Demand::default();
        for step in 0..20_000_u32 {
            if step % 20 == 0 {
                demand.record("heavy");
            } else {
                demand.record(&format!("random-{step}"));
            }
        }
        assert_eq!(demand.len(), DEMAND_SLOTS);
        assert_eq!(demand.top(1, MIN_DEMAND), ["heavy"]);
        assert_eq!(
            demand.top(5, MIN_DEMAND),
            ["heavy"],
            "random kids look demanded"
        );
    }
}
