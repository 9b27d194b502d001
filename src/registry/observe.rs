//! Observability of a registry: a `tracing` event for every registry event
//! (feature `tracing`) and the counters behind
//! [`Registry::record_metrics`](super::Registry::record_metrics) (feature
//! `metrics`). Every registry event passes through [`Observer::on_event`], called
//! by the one function that sends events; with both features off it compiles to
//! nothing.

use std::fmt;

use super::event::Event;
#[cfg(any(feature = "metrics", feature = "tracing"))]
use super::event::NodeState;

/// How a key is shown in `tracing` events: set by
/// [`Registry::with_debug_keys`](super::Registry::with_debug_keys).
pub(crate) type KeyDebug<K> = fn(&K) -> &dyn fmt::Debug;

/// Hooks run at every event, shared by all shards.
pub(crate) struct Observer<K> {
    /// `None`: keys are shown as `?`.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub(crate) key_debug: Option<KeyDebug<K>>,
    /// `false` for the registries inside cluster members: their raw verdicts
    /// are not the member's conclusions, which are traced as cluster events.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub(crate) traced: bool,
    /// Events per (from, to): from `none` (joined), alive, suspect, dead (rows)
    /// to alive, suspect, dead, removed (columns); then slow heartbeats.
    #[cfg(feature = "metrics")]
    pub(crate) counts: [std::sync::atomic::AtomicU64; 17],
}

impl<K> fmt::Debug for Observer<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Observer")
            .field("key_debug", &self.key_debug.is_some())
            .finish_non_exhaustive()
    }
}

/// The label values of a transition's `from` (`none` for a join) and `to`
/// (`removed` for a removal), in the metrics' row and column order.
#[cfg(feature = "metrics")]
pub(crate) const FROM: [&str; 4] = ["none", "alive", "suspect", "dead"];
/// See [`FROM`].
#[cfg(feature = "metrics")]
pub(crate) const TO: [&str; 4] = ["alive", "suspect", "dead", "removed"];
/// The slot of the slow-heartbeat count in [`Observer::counts`].
#[cfg(feature = "metrics")]
pub(crate) const SLOW: usize = 16;

#[cfg(feature = "metrics")]
fn state_slot(state: NodeState) -> usize {
    match state {
        NodeState::Alive => 0,
        NodeState::Suspect => 1,
        NodeState::Dead => 2,
    }
}

impl<K> Observer<K> {
    pub(crate) fn new() -> Self {
        Observer {
            key_debug: None,
            traced: true,
            #[cfg(feature = "metrics")]
            counts: Default::default(),
        }
    }

    /// Runs the hooks for `event`, about to be sent.
    #[inline]
    pub(crate) fn on_event(&self, event: &Event<K>) {
        #[cfg(feature = "metrics")]
        self.count(event);
        #[cfg(feature = "tracing")]
        self.trace(event);
        let _ = event;
    }

    #[cfg(feature = "metrics")]
    fn count(&self, event: &Event<K>) {
        use std::sync::atomic::Ordering;
        let slot = match *event {
            Event::Joined { .. } => 0,
            Event::Changed { from, to, .. } => (1 + state_slot(from)) * 4 + state_slot(to),
            Event::Removed { from, .. } => (1 + state_slot(from)) * 4 + 3,
            Event::SlowHeartbeat { .. } => SLOW,
        };
        self.counts[slot].fetch_add(1, Ordering::Relaxed);
    }

    /// One `tracing` event at the level the table in the crate's docs gives,
    /// target `failure_detector::registry`, fields `node`, `from`, `to`, `at_ns`
    /// (and `interval_ns` for a slow heartbeat).
    #[cfg(feature = "tracing")]
    fn trace(&self, event: &Event<K>) {
        const TARGET: &str = "failure_detector::registry";
        if !self.traced {
            return;
        }
        let node = KeyField(event.node(), self.key_debug);
        let at_ns = event.at().as_nanos();
        match *event {
            Event::Joined { .. } => {
                tracing::debug!(target: TARGET, node = ?node, to = "alive", at_ns, "node joined");
            }
            Event::Changed {
                from,
                to: NodeState::Dead,
                ..
            } => {
                tracing::warn!(target: TARGET, node = ?node, from = %from, to = "dead", at_ns, "node declared dead");
            }
            Event::Changed {
                from,
                to: NodeState::Suspect,
                ..
            } => {
                tracing::info!(target: TARGET, node = ?node, from = %from, to = "suspect", at_ns, "node suspected");
            }
            Event::Changed { from, to, .. } => {
                tracing::info!(target: TARGET, node = ?node, from = %from, to = %to, at_ns, "node alive again");
            }
            Event::Removed { from, .. } => {
                tracing::info!(target: TARGET, node = ?node, from = %from, to = "removed", at_ns, "node removed");
            }
            Event::SlowHeartbeat { interval, .. } => {
                let interval_ns = crate::time::duration_nanos(interval);
                tracing::warn!(target: TARGET, node = ?node, interval_ns, at_ns, "heartbeat interval is growing too large");
            }
        }
    }
}

/// A key in a `tracing` event: through [`KeyDebug`], or `?`.
#[cfg(feature = "tracing")]
struct KeyField<'a, K>(&'a K, Option<KeyDebug<K>>);

#[cfg(feature = "tracing")]
impl<K> fmt::Debug for KeyField<'_, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            Some(show) => show(self.0).fmt(f),
            None => f.write_str("?"),
        }
    }
}

/// Heartbeats counted in plain integers under a shard's lock (feature `metrics`).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ShardCounters {
    #[cfg(feature = "metrics")]
    pub(crate) accepted: u64,
    #[cfg(feature = "metrics")]
    pub(crate) refused: u64,
}

impl ShardCounters {
    /// Counts one heartbeat's outcome: one addition, under the lock already
    /// held; nothing without the `metrics` feature.
    #[inline(always)]
    pub(crate) fn count<T, E>(&mut self, result: &Result<T, E>) {
        #[cfg(feature = "metrics")]
        match result {
            Ok(_) => self.accepted += 1,
            Err(_) => self.refused += 1,
        }
        let _ = result;
    }
}
