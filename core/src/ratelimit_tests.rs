use super::*;

fn config(second: Option<u64>, minute: Option<u64>, hour: Option<u64>) -> RateLimitingConfig {
    RateLimitingConfig {
        second,
        minute,
        hour,
        ..RateLimitingConfig::default()
    }
}

/// An hour boundary (and so a minute's and a second's) in December 2026.
const HOUR_START: u64 = 1_796_565_600;

#[test]
fn the_test_clock_starts_an_hour() {
    assert_eq!(HOUR_START % 3600, 0);
}

#[test]
fn a_minute_limit_admits_its_count_then_refuses_until_the_next_minute() {
    let limits = Limits::new(None, Some(3), None);
    let mut counters = Counters::default();
    let now = HOUR_START + 10;
    let remaining: Vec<u64> = (0..3)
        .map(|_| {
            let d = admit(&mut counters, &limits, now);
            assert!(d.allowed);
            d.remaining
        })
        .collect();
    assert_eq!(remaining, [2, 1, 0]);
    let refused = admit(&mut counters, &limits, now + 49);
    assert!(!refused.allowed);
    assert_eq!((refused.limit, refused.remaining), (3, 0));
    assert_eq!(refused.reset, 1, "one second left in the minute");
    // Refused requests are not counted: the next minute starts from zero.
    let next = admit(&mut counters, &limits, HOUR_START + 60);
    assert!(next.allowed);
    assert_eq!(next.remaining, 2);
    assert_eq!(next.reset, 60);
}

#[test]
fn windows_are_aligned_to_the_clock_not_to_the_first_request() {
    let limits = Limits::new(None, Some(1), None);
    let mut counters = Counters::default();
    // First request in the last second of a minute; the next second is a new minute.
    assert!(admit(&mut counters, &limits, HOUR_START + 59).allowed);
    assert!(!admit(&mut counters, &limits, HOUR_START + 59).allowed);
    assert!(admit(&mut counters, &limits, HOUR_START + 60).allowed);
}

#[test]
fn a_second_limit_resets_every_second_and_reports_a_reset_of_one() {
    let limits = Limits::new(Some(2), None, None);
    let mut counters = Counters::default();
    let t = HOUR_START + 5;
    assert!(admit(&mut counters, &limits, t).allowed);
    assert!(admit(&mut counters, &limits, t).allowed);
    let refused = admit(&mut counters, &limits, t);
    assert!(!refused.allowed);
    assert_eq!(refused.reset, 1);
    assert!(admit(&mut counters, &limits, t + 1).allowed);
}

#[test]
fn every_configured_window_counts_and_the_exhausted_longer_one_decides_the_reset() {
    let limits = Limits::new(Some(10), Some(20), Some(25));
    let mut counters = Counters::default();
    // 25 requests in bursts of 5, thirty seconds apart: at most 10 in any minute.
    let mut t = HOUR_START;
    for _ in 0..5 {
        for _ in 0..5 {
            assert!(admit(&mut counters, &limits, t).allowed, "at {t}");
        }
        t += 30;
    }
    // The hour has no room left; the second and minute still have.
    let refused = admit(&mut counters, &limits, t);
    assert!(!refused.allowed);
    let usage: Vec<(Period, u64, u64)> = refused
        .usage()
        .map(|u| (u.period, u.limit, u.remaining))
        .collect();
    assert_eq!(
        usage,
        [
            (Period::Second, 10, 10),
            (Period::Minute, 20, 15),
            (Period::Hour, 25, 0),
        ]
    );
    assert_eq!((refused.limit, refused.remaining), (25, 0));
    assert_eq!(refused.reset, 3600 - (t - HOUR_START));
}

#[test]
fn admitted_requests_show_one_less_in_every_window_and_headers_name_the_tightest() {
    let limits = Limits::new(Some(5), Some(100), None);
    let mut counters = Counters::default();
    let d = admit(&mut counters, &limits, HOUR_START + 30);
    assert!(d.allowed);
    let usage: Vec<(u64, u64)> = d.usage().map(|u| (u.limit, u.remaining)).collect();
    assert_eq!(usage, [(5, 4), (100, 99)]);
    // The second has the least left: RateLimit-* describe it.
    assert_eq!((d.limit, d.remaining, d.reset), (5, 4, 1));
}

#[test]
fn a_tie_in_remaining_goes_to_the_longer_window() {
    let limits = Limits::new(Some(3), Some(3), None);
    let mut counters = Counters::default();
    let d = admit(&mut counters, &limits, HOUR_START + 15);
    assert_eq!((d.limit, d.remaining), (3, 2));
    assert_eq!(d.reset, 45, "the minute's reset, not the second's");
}

#[test]
fn counters_expire_once_every_window_they_hold_is_over() {
    let limits = Limits::new(Some(1), Some(1), None);
    let mut counters = Counters::default();
    assert!(counters.expired(&limits, HOUR_START));
    admit(&mut counters, &limits, HOUR_START + 1);
    assert!(!counters.expired(&limits, HOUR_START + 1));
    assert!(
        !counters.expired(&limits, HOUR_START + 59),
        "the minute holds"
    );
    assert!(counters.expired(&limits, HOUR_START + 60));
    assert_eq!(counters.count(Period::Minute, HOUR_START + 30), 1);
    assert_eq!(counters.count(Period::Minute, HOUR_START + 60), 0);
}

#[test]
fn dividing_by_the_replicas_rounds_up_and_never_reaches_zero() {
    let mut c = config(Some(1), Some(10), Some(1000));
    c.divide_by = Some(3);
    assert_eq!(Limits::of(&c), Limits::new(Some(1), Some(4), Some(334)));
    c.divide_by = None;
    assert_eq!(Limits::of(&c), Limits::new(Some(1), Some(10), Some(1000)));
    c.divide_by = Some(1);
    assert_eq!(Limits::of(&c), Limits::new(Some(1), Some(10), Some(1000)));
}

#[test]
fn kongs_configuration_checks_are_applied() {
    assert_eq!(
        problems(&config(None, None, None)),
        ["set at least one of second, minute or hour"]
    );
    assert_eq!(
        problems(&config(Some(0), None, None)),
        ["second must be greater than 0"]
    );
    assert_eq!(
        problems(&config(None, Some(10), Some(5))),
        ["the limit for hour(5) cannot be lower than the limit for minute(10)"]
    );
    assert!(problems(&config(Some(1), Some(1), Some(1))).is_empty());
    let mut divided = config(Some(1), None, None);
    divided.divide_by = Some(0);
    assert_eq!(problems(&divided), ["divideBy must be at least 1"]);
}

#[test]
fn the_longest_period_is_the_last_configured() {
    assert_eq!(
        Limits::new(Some(1), Some(2), None).longest(),
        Some(Period::Minute)
    );
    assert_eq!(
        Limits::new(None, None, Some(2)).longest(),
        Some(Period::Hour)
    );
    assert_eq!(Limits::default().longest(), None);
}
