//! What the changing half of every workflow shares: a bounded worker pool over nodes that can
//! stop early, and patience with a cluster that is busy with another change.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::cluster::ClusterError;
use crate::listener::Listener;

/// Runs `work` on every item with at most `concurrency` workers; results in item order. When
/// `work` answers `true` as its second value (an error that concerns the whole cluster), items
/// not yet started get `skipped(item)` instead.
pub fn pool<I: Sync, T: Send>(
    items: &[I],
    concurrency: usize,
    work: impl Fn(&I) -> (T, bool) + Sync,
    skipped: impl Fn(&I) -> T + Sync,
) -> Vec<T> {
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let results: Mutex<Vec<Option<T>>> = Mutex::new(items.iter().map(|_| None).collect());
    let workers = concurrency.clamp(1, items.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::SeqCst);
                let Some(item) = items.get(index) else { break };
                let value = if stop.load(Ordering::SeqCst) {
                    skipped(item)
                } else {
                    let (value, fatal) = work(item);
                    if fatal {
                        stop.store(true, Ordering::SeqCst);
                    }
                    value
                };
                if let Ok(mut slots) = results.lock() {
                    slots[index] = Some(value);
                }
            });
        }
    });
    let slots = results
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    slots
        .into_iter()
        .zip(items)
        .map(|(slot, item)| slot.unwrap_or_else(|| skipped(item)))
        .collect()
}

/// Whether the error says "another change is in progress": a 409, or the `busy` error code.
pub fn is_busy(error: &ClusterError) -> bool {
    error.error_code() == Some("busy") || error.status() == Some(409)
}

/// Sends `request` again while the cluster answers busy, for at most `patience` in all (the
/// client's own retries come first, within each attempt). RS answers busy while another change
/// (an upgrade, a node joining) runs, which can take minutes; only requests where 409 means busy
/// go through here.
pub fn while_busy<T>(
    patience: Duration,
    listener: &dyn Listener,
    what: &str,
    mut request: impl FnMut() -> Result<T, ClusterError>,
) -> Result<T, ClusterError> {
    let started = Instant::now();
    let mut wait = Duration::from_secs(1);
    loop {
        match request() {
            Err(error) if is_busy(&error) && started.elapsed() + wait <= patience => {
                listener.on_warning(&format!(
                    "{what}: the cluster is busy with another change; trying again in {}s ({}s of {}s waited)",
                    wait.as_secs(),
                    started.elapsed().as_secs(),
                    patience.as_secs()
                ));
                std::thread::sleep(wait);
                wait = (wait * 2).min(Duration::from_secs(8));
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_keeps_order_and_stops_after_a_fatal_item() {
        let items: Vec<u32> = (1..=6).collect();
        let out = pool(
            &items,
            1,
            |i| (format!("ran {i}"), *i == 2),
            |i| format!("skipped {i}"),
        );
        assert_eq!(
            out,
            [
                "ran 1",
                "ran 2",
                "skipped 3",
                "skipped 4",
                "skipped 5",
                "skipped 6"
            ]
        );
        let out = pool(&items, 4, |i| (i * 10, false), |_| 0);
        assert_eq!(out, [10, 20, 30, 40, 50, 60]);
    }

    #[test]
    fn busy_answers_are_retried_within_the_patience_and_others_are_not() {
        let busy = || ClusterError::Api {
            method: "POST",
            url: "u".into(),
            status: 409,
            error_code: Some("busy".into()),
            message: None,
        };
        let mut calls = 0;
        let result = while_busy(
            Duration::from_secs(5),
            &crate::listener::Silent,
            "x",
            || {
                calls += 1;
                if calls < 2 {
                    Err(busy())
                } else {
                    Ok(calls)
                }
            },
        );
        assert_eq!(result.unwrap(), 2);
        let mut calls = 0;
        let result: Result<(), _> =
            while_busy(Duration::ZERO, &crate::listener::Silent, "x", || {
                calls += 1;
                Err(busy())
            });
        assert!(result.is_err());
        assert_eq!(calls, 1, "no patience: one attempt");
        let mut calls = 0;
        let result: Result<(), _> = while_busy(
            Duration::from_secs(60),
            &crate::listener::Silent,
            "x",
            || {
                calls += 1;
                Err(ClusterError::Api {
                    method: "POST",
                    url: "u".into(),
                    status: 406,
                    error_code: Some("invalid_module".into()),
                    message: None,
                })
            },
        );
        assert!(result.is_err());
        assert_eq!(calls, 1, "a refusal is not retried");
    }
}
