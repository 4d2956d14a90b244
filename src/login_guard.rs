//! Login throttling, modelled on MariaDB's `max_password_errors` and MySQL 8's `password_lock_time`: after
//! `[server] max_password_errors` failed logins in a row for one user name, that user is refused with
//! ER_USER_IS_BLOCKED (4150) for `password_lock_time_ms`, right password or not, until the time passes or
//! an admin runs `SET SHARDGATE USER 'name' UNBLOCKED`. Other users are never delayed: the count is per
//! user name, and a successful login resets it. It lives beside the rules (carried over by a reload).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// User names tracked at most, so that a stream of made-up names cannot grow the map without bound; when it
/// is full, names with no block in force are forgotten first.
const TRACKED: usize = 10_000;

#[derive(Debug, Default)]
struct Failures {
    in_a_row: u32,
    blocked_until: Option<Instant>,
}

/// The failed logins of one server, by user name.
#[derive(Debug, Default)]
pub struct LoginGuard {
    users: Mutex<HashMap<String, Failures>>,
}

impl LoginGuard {
    /// `Err(time left)` while `user` is blocked.
    pub fn check(&self, user: &str) -> Result<(), Duration> {
        let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        let Some(f) = users.get_mut(user) else { return Ok(()) };
        match f.blocked_until {
            Some(until) if until > Instant::now() => Err(until - Instant::now()),
            Some(_) => {
                // The block ran out: a fresh count.
                users.remove(user);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Counts a failed login of `user`; returns true when this failure blocks it (the `max`-th in a row).
    /// `max` 0 counts nothing.
    pub fn failed(&self, user: &str, max: u32, lock: Duration) -> bool {
        if max == 0 {
            return false;
        }
        let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        if users.len() >= TRACKED && !users.contains_key(user) {
            let now = Instant::now();
            users.retain(|_, f| f.blocked_until.is_some_and(|u| u > now));
            if users.len() >= TRACKED {
                return false;
            }
        }
        let f = users.entry(user.to_string()).or_default();
        f.in_a_row += 1;
        if f.in_a_row >= max && f.blocked_until.is_none() {
            f.blocked_until = Some(Instant::now() + lock);
            return true;
        }
        false
    }

    /// A successful login: `user`'s count starts again.
    pub fn succeeded(&self, user: &str) {
        self.users.lock().unwrap_or_else(|e| e.into_inner()).remove(user);
    }

    /// Lifts `user`'s block and count; whether it was blocked.
    pub fn unblock(&self, user: &str) -> bool {
        let now = Instant::now();
        self.users.lock().unwrap_or_else(|e| e.into_inner()).remove(user).is_some_and(|f| f.blocked_until.is_some_and(|u| u > now))
    }

    /// Users blocked now, with the time left, sorted by name.
    pub fn blocked(&self) -> Vec<(String, Duration)> {
        let now = Instant::now();
        let users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<(String, Duration)> =
            users.iter().filter_map(|(u, f)| f.blocked_until.filter(|t| *t > now).map(|t| (u.clone(), t - now))).collect();
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_max_th_failure_in_a_row_blocks_that_user_only_until_the_time_passes_or_an_unblock() {
        let g = LoginGuard::default();
        let lock = Duration::from_millis(100);
        for _ in 0..2 {
            assert!(!g.failed("eve", 3, lock));
        }
        g.succeeded("eve");
        assert!(!g.failed("eve", 3, lock) && !g.failed("eve", 3, lock), "a success started the count again");
        assert!(g.failed("eve", 3, lock), "the third in a row blocks");
        assert!(g.check("eve").is_err() && g.check("app").is_ok(), "only eve");
        assert_eq!(g.blocked().into_iter().map(|b| b.0).collect::<Vec<_>>(), ["eve"]);
        assert!(!g.failed("eve", 3, lock), "already blocked: no second block");
        std::thread::sleep(lock);
        assert!(g.check("eve").is_ok(), "the block ran out");
        for _ in 0..3 {
            g.failed("eve", 3, lock);
        }
        assert!(g.unblock("eve") && g.check("eve").is_ok() && !g.unblock("eve"));
        assert!(!g.failed("x", 0, lock) && g.check("x").is_ok(), "max 0: off");
    }
}
