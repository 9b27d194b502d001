//! [`RegistryDriver`]: a task that ticks a [`Registry`] on time.

use std::hash::{BuildHasher, Hash};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::{SpawnError, current_runtime};
use crate::detectors::FailureDetector;
use crate::registry::Registry;
use crate::time::{Clock, TokioClock};

/// What a [`RegistryDriver`] has done since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct RegistryDriverStats {
    /// Calls to [`Registry::tick`]: one per deadline reached (deadlines within
    /// the same millisecond share one), never more.
    pub ticks: u64,
    /// Events those ticks produced (transitions to Suspect, Dead, Removed).
    pub events: u64,
    /// Times the registry's deadline waker woke the driver before its deadline
    /// (a node registered, or a heartbeat brought a deadline forward).
    pub wakes: u64,
}

struct Shared {
    wake: Notify,
    stopping: AtomicBool,
    ticks: AtomicU64,
    events: AtomicU64,
    wakes: AtomicU64,
}

/// Ticks a [`Registry`] fed by the application's own transport, on time.
///
/// The task sleeps until [`Registry::watch_next_deadline`] and ticks the
/// registry then; it installs the registry's deadline waker
/// ([`Registry::set_deadline_waker`]), so a node that registers or joins, or a
/// heartbeat that brings a deadline forward, wakes it early to sleep until the
/// new, earlier deadline. It never polls: between deadlines it is asleep, and
/// it ticks once per deadline reached. Transitions are dated at their deadlines
/// whenever the tick runs (tokio's timers are 1 ms coarse).
///
/// The registry's clock must be a [`MonotonicClock`](crate::MonotonicClock) (the
/// default) or a [`TokioClock`]; the driver reads tokio's clock on the same
/// origin (see [`Registry::monotonic_clock`]), so the timestamps it ticks at
/// and those of `heartbeat_now` agree. On tokio's paused test clock give the
/// registry a `TokioClock`, so that its `*_now` methods follow the paused time.
///
/// One driver per registry: a second one replaces the first's waker, leaving
/// the first to wake only at its own deadlines. Stopping the driver removes the
/// waker.
///
/// ```
/// use failure_detector::{FixedTimeout, FixedTimeoutConfig, NodeState, Registry, RegistryConfig};
/// use failure_detector::runtime::{RegistryDriver, TokioClock};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let fd = FixedTimeout::new(FixedTimeoutConfig::new())?; // suspected after 15 s of silence
/// let (registry, events) = Registry::<String, _>::new(RegistryConfig::new(), fd)?;
/// let registry = Arc::new(registry.with_clock(TokioClock::new()));
/// let driver = RegistryDriver::spawn(registry.clone())?;
///
/// registry.heartbeat_now("a")?;
/// tokio::time::sleep(Duration::from_secs(16)).await; // (paused: instant)
/// assert_eq!(registry.state("a"), Some(NodeState::Suspect));
/// assert_eq!(driver.handle().stats().ticks, 1);
/// driver.stop().await?;
/// # let _ = events;
/// # Ok(())
/// # }
/// ```
pub struct RegistryDriver {
    handle: RegistryDriverHandle,
    task: JoinHandle<()>,
}

/// A cloneable handle on a running [`RegistryDriver`]: its counters, and stop.
#[derive(Clone)]
pub struct RegistryDriverHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for RegistryDriverHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryDriverHandle")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for RegistryDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryDriver")
            .field("handle", &self.handle)
            .finish_non_exhaustive()
    }
}

impl RegistryDriver {
    /// Starts ticking `registry` on the current tokio runtime, and installs its
    /// deadline waker.
    ///
    /// # Errors
    /// Nothing is spawned: [`SpawnError::ClockNotMonotonic`] if the registry's
    /// clock is not tied to an `Instant`; [`SpawnError::NoRuntime`] outside a
    /// tokio runtime.
    pub fn spawn<K, D, S>(registry: Arc<Registry<K, D, S>>) -> Result<Self, SpawnError>
    where
        K: Hash + Eq + Clone + Send + Sync + 'static,
        D: FailureDetector + Send + 'static,
        S: BuildHasher + Send + Sync + 'static,
    {
        let clock = TokioClock::from(
            registry
                .monotonic_clock()
                .ok_or(SpawnError::ClockNotMonotonic)?,
        );
        let runtime = current_runtime()?;
        let shared = Arc::new(Shared {
            wake: Notify::new(),
            stopping: AtomicBool::new(false),
            ticks: AtomicU64::new(0),
            events: AtomicU64::new(0),
            wakes: AtomicU64::new(0),
        });
        let waker = shared.clone();
        let waker_id = registry.set_deadline_waker(move || waker.wake.notify_one());
        let task = runtime.spawn(run(registry, clock, shared.clone(), waker_id));
        Ok(RegistryDriver {
            handle: RegistryDriverHandle { shared },
            task,
        })
    }

    /// A handle on the driver (cloneable, for other tasks).
    pub fn handle(&self) -> RegistryDriverHandle {
        self.handle.clone()
    }

    /// Stops the driver after its current step and waits for its task to end;
    /// the registry's deadline waker is removed.
    ///
    /// # Errors
    /// The task's `JoinError` if the runtime cancelled it.
    pub async fn stop(self) -> Result<(), tokio::task::JoinError> {
        self.handle.stop();
        self.task.await
    }
}

impl RegistryDriverHandle {
    /// The driver's counters.
    pub fn stats(&self) -> RegistryDriverStats {
        let s = &self.shared;
        RegistryDriverStats {
            ticks: s.ticks.load(Ordering::Relaxed),
            events: s.events.load(Ordering::Relaxed),
            wakes: s.wakes.load(Ordering::Relaxed),
        }
    }

    /// Asks the driver to stop after its current step. Returns at once;
    /// idempotent.
    pub fn stop(&self) {
        self.shared.stopping.store(true, Ordering::Release);
        self.shared.wake.notify_one();
    }
}

async fn run<K, D, S>(
    registry: Arc<Registry<K, D, S>>,
    clock: TokioClock,
    shared: Arc<Shared>,
    waker_id: u64,
) where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    D: FailureDetector + Send + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    let sleep = tokio::time::sleep_until(clock.origin());
    tokio::pin!(sleep);
    while !shared.stopping.load(Ordering::Acquire) {
        // Arms the waker: a deadline published from here on that is earlier
        // than this one wakes the task (a permit is kept if it is not waiting yet).
        let deadline = registry.watch_next_deadline();
        let now = clock.now();
        if let Some(deadline) = deadline
            && deadline <= now
        {
            let events = registry.tick(now);
            shared.ticks.fetch_add(1, Ordering::Relaxed);
            shared.events.fetch_add(events as u64, Ordering::Relaxed);
            // The tick published later deadlines: ask again, after letting the
            // runtime's other tasks (the ones feeding heartbeats) run.
            tokio::task::yield_now().await;
            continue;
        }
        if let Some(deadline) = deadline {
            sleep.as_mut().reset(clock.instant_of(deadline));
        }
        tokio::select! {
            biased;
            _ = shared.wake.notified() => {
                shared.wakes.fetch_add(1, Ordering::Relaxed);
            }
            _ = &mut sleep, if deadline.is_some() => {}
        }
    }
    // Not another driver's waker, installed since.
    registry.clear_deadline_waker_if(waker_id);
}
