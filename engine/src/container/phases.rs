//! Where a container operation's time goes: named phases, logged at debug level (target
//! `berth::phases`) when the operation ends, for the per-phase profile in the README.

use std::fmt::Write as _;
use std::time::Instant;

pub struct Phases {
    what: &'static str,
    id: String,
    last: Instant,
    marks: Vec<(&'static str, f64)>,
}

impl Phases {
    pub fn new(what: &'static str, id: &str) -> Phases {
        Phases {
            what,
            id: id[..id.len().min(12)].to_string(),
            last: Instant::now(),
            marks: Vec::new(),
        }
    }

    /// Names the container once it has an ID (a create learns it after its first phases).
    pub fn set_id(&mut self, id: &str) {
        self.id = id[..id.len().min(12)].to_string();
    }

    /// Ends phase `name` (the time since the previous mark).
    pub fn mark(&mut self, name: &'static str) {
        let now = Instant::now();
        self.marks
            .push((name, now.duration_since(self.last).as_secs_f64() * 1000.0));
        self.last = now;
    }

    /// Logs the phases as `name=ms` pairs.
    pub fn log(&self) {
        if !tracing::enabled!(target: "berth::phases", tracing::Level::DEBUG) {
            return;
        }
        let mut line = String::new();
        for (name, ms) in &self.marks {
            let _ = write!(line, " {name}={ms:.2}");
        }
        tracing::debug!(target: "berth::phases", container = %self.id, "{}:{line}", self.what);
    }
}
