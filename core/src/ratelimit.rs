//! Kong's `rate-limiting` plugin with its `local` policy, as pure functions: fixed windows
//! aligned to the UTC second, minute and hour, a request admitted while every configured window
//! has room and then counted in all of them, and the numbers of Kong's response headers.
//!
//! What Kong does, and so what this does:
//! - a window is `[k · period, (k + 1) · period)` in Unix seconds; its count starts at 0;
//! - a request is refused when any configured window already counts its limit, and a refused
//!   request is not counted (a client that keeps calling while refused is not locked out longer);
//! - `X-RateLimit-Remaining-<Period>` is what is left after this request (admitted: one less;
//!   refused: unchanged, never below 0);
//! - `RateLimit-Limit`/`-Remaining`/`-Reset` describe the window with the least left, the longer
//!   window on a tie; `Reset` (and a 429's `Retry-After`) is the seconds until that window ends,
//!   at least 1.
//!
//! Day, month and year windows (Kong has them too) are not offered: counters live in each
//! replica's memory, so a quota that long would restart with every rollout; it needs shared,
//! persistent counters (Kong's `cluster` and `redis` policies), which Tollgate does not have.

use crate::snapshot::RateLimitingConfig;

/// A window length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Period {
    Second,
    Minute,
    Hour,
}

/// Every period, shortest first.
pub const PERIODS: [Period; 3] = [Period::Second, Period::Minute, Period::Hour];

impl Period {
    /// The window length in seconds.
    pub const fn secs(self) -> u64 {
        match self {
            Self::Second => 1,
            Self::Minute => 60,
            Self::Hour => 3600,
        }
    }

    /// The configuration field's name, Kong's (`second`, `minute`, `hour`).
    pub const fn field(self) -> &'static str {
        match self {
            Self::Second => "second",
            Self::Minute => "minute",
            Self::Hour => "hour",
        }
    }

    /// `X-RateLimit-Limit-<Period>`, lower case (HTTP field names are case-insensitive).
    pub const fn limit_header(self) -> &'static str {
        match self {
            Self::Second => "x-ratelimit-limit-second",
            Self::Minute => "x-ratelimit-limit-minute",
            Self::Hour => "x-ratelimit-limit-hour",
        }
    }

    /// `X-RateLimit-Remaining-<Period>`, lower case.
    pub const fn remaining_header(self) -> &'static str {
        match self {
            Self::Second => "x-ratelimit-remaining-second",
            Self::Minute => "x-ratelimit-remaining-minute",
            Self::Hour => "x-ratelimit-remaining-hour",
        }
    }

    const fn index(self) -> usize {
        match self {
            Self::Second => 0,
            Self::Minute => 1,
            Self::Hour => 2,
        }
    }
}

/// The limits one replica enforces, per period.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits([Option<u64>; 3]);

impl Limits {
    /// The configured limits, each divided by `divide_by` (rounded up, so a client spread evenly
    /// over the replicas gets at least its whole limit; never below 1).
    pub fn of(config: &RateLimitingConfig) -> Self {
        let divisor = u64::from(config.divide_by.unwrap_or(1).max(1));
        let divide = |limit: Option<u64>| limit.map(|l| l.div_ceil(divisor).max(1));
        Self([
            divide(config.second),
            divide(config.minute),
            divide(config.hour),
        ])
    }

    /// Limits given directly (tests and benchmarks).
    pub const fn new(second: Option<u64>, minute: Option<u64>, hour: Option<u64>) -> Self {
        Self([second, minute, hour])
    }

    pub fn get(&self, period: Period) -> Option<u64> {
        self.0[period.index()]
    }

    /// The configured periods with their limits, shortest first.
    pub fn iter(&self) -> impl Iterator<Item = (Period, u64)> + '_ {
        PERIODS
            .into_iter()
            .filter_map(|p| self.get(p).map(|limit| (p, limit)))
    }

    /// The longest configured period.
    pub fn longest(&self) -> Option<Period> {
        PERIODS.into_iter().rev().find(|p| self.get(*p).is_some())
    }
}

/// One identity's counters: per period, the window counted and the requests admitted in it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Per period: the window's index (`now / period`) and its count.
    windows: [(u64, u64); 3],
}

impl Counters {
    /// Whether every window these counters hold is over at `now`: forgetting them changes no
    /// answer.
    pub fn expired(&self, limits: &Limits, now: u64) -> bool {
        limits.iter().all(|(period, _)| {
            let (index, count) = self.windows[period.index()];
            count == 0 || index != now / period.secs()
        })
    }

    /// The requests admitted in the current window of `period` at `now`.
    pub fn count(&self, period: Period, now: u64) -> u64 {
        let (index, count) = self.windows[period.index()];
        if index == now / period.secs() {
            count
        } else {
            0
        }
    }
}

/// One period's numbers for `X-RateLimit-Limit-<Period>` and `X-RateLimit-Remaining-<Period>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    pub period: Period,
    pub limit: u64,
    /// Left after this request.
    pub remaining: u64,
}

/// The answer to one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Admitted (and counted), or refused with 429.
    pub allowed: bool,
    /// Per configured period, shortest first (`None` past the configured ones).
    pub usage: [Option<Usage>; 3],
    /// `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (seconds, at least 1): the
    /// window with the least left, the longer one on a tie. `Reset` is also a 429's
    /// `Retry-After`.
    pub limit: u64,
    pub remaining: u64,
    pub reset: u64,
}

impl Decision {
    /// The configured periods' numbers.
    pub fn usage(&self) -> impl Iterator<Item = &Usage> {
        self.usage.iter().flatten()
    }
}

/// Admits or refuses one request of the identity whose counters these are, at `now` (Unix
/// seconds), and counts it when admitted. `limits` must hold at least one period (validation
/// guarantees it); without any, every request is admitted with zeros.
pub fn admit(counters: &mut Counters, limits: &Limits, now: u64) -> Decision {
    let mut allowed = true;
    for (period, limit) in limits.iter() {
        let slot = &mut counters.windows[period.index()];
        let index = now / period.secs();
        if slot.0 != index {
            *slot = (index, 0);
        }
        if slot.1 >= limit {
            allowed = false;
        }
    }
    let mut decision = Decision {
        allowed,
        usage: [None; 3],
        limit: 0,
        remaining: 0,
        reset: 1,
    };
    let mut chosen: Option<(u64, Period)> = None;
    for (i, (period, limit)) in limits.iter().enumerate() {
        let slot = &mut counters.windows[period.index()];
        if allowed {
            slot.1 += 1;
        }
        let remaining = limit.saturating_sub(slot.1);
        decision.usage[i] = Some(Usage {
            period,
            limit,
            remaining,
        });
        // Periods come shortest first, so `<=` lets the longer window win a tie.
        if chosen.is_none_or(|(least, _)| remaining <= least) {
            chosen = Some((remaining, period));
            decision.limit = limit;
            decision.remaining = remaining;
            decision.reset = (period.secs() - now % period.secs()).max(1);
        }
    }
    decision
}

/// What is wrong with a rate-limiting configuration, Kong's checks and the replica divisor.
pub fn problems(config: &RateLimitingConfig) -> Vec<String> {
    let mut problems = Vec::new();
    let limits = [config.second, config.minute, config.hour];
    if limits.iter().all(Option::is_none) {
        problems.push("set at least one of second, minute or hour".to_owned());
    }
    for (period, limit) in PERIODS.iter().zip(limits) {
        if limit == Some(0) {
            problems.push(format!("{} must be greater than 0", period.field()));
        }
    }
    // Kong: "The limit for hour(5) cannot be lower than the limit for minute(10)".
    for (i, lower) in PERIODS.iter().enumerate() {
        for upper in &PERIODS[i + 1..] {
            if let (Some(low), Some(up)) = (limits[lower.index()], limits[upper.index()])
                && up < low
            {
                problems.push(format!(
                    "the limit for {}({up}) cannot be lower than the limit for {}({low})",
                    upper.field(),
                    lower.field()
                ));
            }
        }
    }
    if config.divide_by == Some(0) {
        problems.push("divideBy must be at least 1".to_owned());
    }
    problems
}

#[cfg(test)]
#[path = "ratelimit_tests.rs"]
mod tests;
