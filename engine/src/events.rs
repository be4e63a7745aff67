//! The event bus: every state change is published here; `/events` subscribers get the
//! recent history (for `since`) and then live events, in order.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::mpsc;

use crate::filters::Filters;

/// How many past events are kept for `since` replays (moby keeps 256).
const HISTORY: usize = 256;
const LIVE_BUFFER: usize = 1024;

/// Filter terms `/events` accepts.
pub const FILTER_TERMS: &[&str] = &[
    "container",
    "config",
    "daemon",
    "event",
    "image",
    "label",
    "network",
    "node",
    "plugin",
    "scope",
    "secret",
    "service",
    "type",
    "volume",
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// `container`, `image`, `volume`, `network`, `daemon`, `plugin`, ...
    pub kind: String,
    pub action: String,
    pub actor_id: String,
    pub attributes: BTreeMap<String, String>,
    /// `local` or `swarm`.
    pub scope: String,
    /// Nanoseconds since the Unix epoch.
    pub time_nano: i128,
}

impl Event {
    pub fn new(
        kind: &str,
        action: &str,
        actor_id: String,
        attributes: BTreeMap<String, String>,
    ) -> Self {
        let time_nano = now_nanos();
        Event {
            kind: kind.to_string(),
            action: action.to_string(),
            actor_id,
            attributes,
            scope: "local".to_string(),
            time_nano,
        }
    }

    /// moby's event filter: every present term must match.
    pub fn matches(&self, f: &Filters) -> bool {
        let attr = |k: &str| self.attributes.get(k).map(String::as_str).unwrap_or("");
        let name = attr("name");
        let action_matches = f.values("event").is_none_or(|vs| {
            vs.iter().any(|v| {
                // exec_create / exec_start / health_status carry a ": ..." suffix.
                self.action == *v || self.action.starts_with(&format!("{v}:"))
            })
        });
        action_matches
            && f.exact_match("type", &self.kind)
            && f.exact_match("scope", &self.scope)
            && f.label_match(&self.attributes)
            && self.kind_match(f, "container", &[&self.actor_id, name])
            && self.kind_match(f, "volume", &[&self.actor_id])
            && self.kind_match(f, "network", &[&self.actor_id, name])
            && self.kind_match(f, "daemon", &[&self.actor_id, name])
            && self.kind_match(f, "plugin", &[&self.actor_id, name])
            && self.image_match(f)
    }

    fn kind_match(&self, f: &Filters, term: &str, candidates: &[&str]) -> bool {
        if !f.contains(term) {
            return true;
        }
        self.kind == term && f.prefix_match_any(term, candidates)
    }

    fn image_match(&self, f: &Filters) -> bool {
        let Some(wanted) = f.values("image") else {
            return true;
        };
        let image = if self.kind == "image" {
            self.actor_id.as_str()
        } else {
            self.attributes
                .get("image")
                .map(String::as_str)
                .unwrap_or("")
        };
        let name = self
            .attributes
            .get("name")
            .map(String::as_str)
            .unwrap_or("");
        let untagged = |s: &str| {
            // Strip a tag, not a registry port: only a ':' after the last '/' counts.
            match s.rfind(':') {
                Some(i) if !s[i..].contains('/') => s[..i].to_string(),
                _ => s.to_string(),
            }
        };
        wanted.iter().any(|w| {
            w == image
                || w == name
                || untagged(image) == *w
                || (self.kind == "image" && untagged(name) == *w)
        })
    }
}

/// Nanoseconds since the epoch, as events are timed.
pub fn now_nanos() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or_default()
}

struct History {
    events: VecDeque<Event>,
}

/// Publishes events to live subscribers and keeps a bounded history.
pub struct EventBus {
    history: Mutex<History>,
    live: broadcast::Sender<Event>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

impl EventBus {
    pub fn new() -> Self {
        EventBus {
            history: Mutex::new(History {
                events: VecDeque::with_capacity(HISTORY),
            }),
            live: broadcast::channel(LIVE_BUFFER).0,
        }
    }

    pub fn publish(&self, event: Event) {
        let mut h = self.history.lock().unwrap_or_else(|p| p.into_inner());
        if h.events.len() == HISTORY {
            h.events.pop_front();
        }
        h.events.push_back(event.clone());
        // Sent under the lock so a concurrent subscribe sees each event exactly once.
        let _ = self.live.send(event);
    }

    /// The history so far and a receiver for everything published after it.
    pub fn subscribe(&self) -> (Vec<Event>, broadcast::Receiver<Event>) {
        let h = self.history.lock().unwrap_or_else(|p| p.into_inner());
        (h.events.iter().cloned().collect(), self.live.subscribe())
    }

    /// `/events`: the past events from `since` on (none without it), then live ones until
    /// `until` has passed (never without it), each matching `filters`. The feed ends when
    /// the receiver is dropped. Times are nanoseconds since the epoch.
    pub fn follow(
        &self,
        since: Option<i128>,
        until: Option<i128>,
        filters: Filters,
    ) -> mpsc::Receiver<Event> {
        let (history, mut live) = self.subscribe();
        let in_window = move |e: &Event| until.is_none_or(|u| e.time_nano <= u);
        let past: Vec<Event> = match since {
            Some(since) => history
                .into_iter()
                .filter(|e| e.time_nano >= since && in_window(e) && e.matches(&filters))
                .collect(),
            None => Vec::new(),
        };
        let ends_in_past = until.is_some_and(|u| u <= now_nanos());
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            for ev in past {
                if tx.send(ev).await.is_err() {
                    return;
                }
            }
            if ends_in_past {
                return;
            }
            let deadline = until.map(|u| {
                let left = (u - now_nanos()).max(0) as u64;
                tokio::time::Instant::now() + std::time::Duration::from_nanos(left)
            });
            loop {
                let next = async {
                    match deadline {
                        Some(d) => tokio::time::timeout_at(d, live.recv()).await.ok(),
                        None => Some(live.recv().await),
                    }
                };
                let ev = tokio::select! {
                    ev = next => ev,
                    _ = tx.closed() => return,
                };
                match ev {
                    None | Some(Err(RecvError::Closed)) => return,
                    Some(Ok(ev)) => {
                        if ev.matches(&filters) && tx.send(ev).await.is_err() {
                            return;
                        }
                    }
                    Some(Err(RecvError::Lagged(n))) => {
                        tracing::warn!(skipped = n, "slow events listener missed events");
                    }
                }
            }
        });
        rx
    }

    /// Live `/events` listeners, for `/info`'s `NEventsListener`.
    pub fn listeners(&self) -> usize {
        self.live.receiver_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container_event(action: &str) -> Event {
        let mut a = BTreeMap::new();
        a.insert("name".into(), "web".into());
        a.insert("image".into(), "busybox:latest".into());
        a.insert("com.example".into(), "1".into());
        Event::new("container", action, "abcdef0123".into(), a)
    }

    #[test]
    fn subscribe_sees_history_then_live_once() {
        let bus = EventBus::new();
        bus.publish(container_event("create"));
        let (past, mut rx) = bus.subscribe();
        bus.publish(container_event("start"));
        assert_eq!(past.len(), 1);
        assert_eq!(rx.try_recv().unwrap().action, "start");
        assert!(rx.try_recv().is_err());
    }

    #[tokio::test]
    async fn follow_replays_the_window_then_stops_at_until() {
        let bus = EventBus::new();
        bus.publish(container_event("create"));
        bus.publish(container_event("start"));
        let mut only_start = Filters::new();
        only_start.add("event", "start");
        let now = now_nanos();
        let mut rx = bus.follow(Some(0), Some(now), only_start);
        assert_eq!(rx.recv().await.unwrap().action, "start");
        // `until` has passed: nothing live follows, the feed ends.
        bus.publish(container_event("start"));
        assert!(rx.recv().await.is_none());
        // Without `since` nothing is replayed; live events arrive until the receiver goes.
        let mut rx = bus.follow(None, None, Filters::new());
        bus.publish(container_event("die"));
        assert_eq!(rx.recv().await.unwrap().action, "die");
        drop(rx);
    }

    #[test]
    fn history_is_bounded() {
        let bus = EventBus::new();
        for _ in 0..(HISTORY + 10) {
            bus.publish(container_event("start"));
        }
        assert_eq!(bus.subscribe().0.len(), HISTORY);
    }

    #[test]
    fn filters_match_like_moby() {
        let ev = container_event("exec_start: sh -c true");
        let mut f = Filters::new();
        f.add("event", "exec_start");
        f.add("container", "web");
        f.add("image", "busybox");
        f.add("label", "com.example=1");
        assert!(ev.matches(&f));
        let mut g = Filters::new();
        g.add("type", "image");
        assert!(!ev.matches(&g));
        let mut h = Filters::new();
        h.add("container", "abc");
        assert!(ev.matches(&h));
        let mut v = Filters::new();
        v.add("volume", "abc");
        assert!(!ev.matches(&v));
    }
}
