//! What can go wrong: link delays, faults scheduled at an instant, faults drawn at
//! random rates.

use std::time::Duration;

use rand::rngs::Xoshiro256PlusPlus;
use rand::{Rng, RngExt, SeedableRng};

use super::error::SimError;
use crate::error::ConfigError;
use crate::qos::{Delay, Loss};
use crate::time::{Timestamp, duration_nanos};

/// The one-way delay of every datagram on a link: one of the QoS lab's models
/// ([`Delay`]: constant, normal truncated at zero, log-normal, gamma), or uniform
/// in a range. Each datagram's delay is drawn independently, so datagrams on one
/// link overtake each other when the spread is comparable to the gap between
/// them: that is the simulator's only source of reordering.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LinkDelay {
    /// A [`Delay`] model of the QoS lab.
    Model(Delay),
    /// Uniform in `[min, max]`, nanosecond resolution.
    Uniform {
        /// The shortest delay.
        min: Duration,
        /// The longest delay; `max < min` is taken as `min`.
        max: Duration,
    },
}

impl LinkDelay {
    /// 1 ms for every datagram (the [`Default`]: a LAN).
    pub const fn new() -> Self {
        LinkDelay::Uniform {
            min: Duration::from_millis(1),
            max: Duration::from_millis(1),
        }
    }

    /// The mean delay.
    pub fn mean(&self) -> Duration {
        match self {
            LinkDelay::Model(d) => d.mean(),
            LinkDelay::Uniform { min, max } => (*min + (*max).max(*min)) / 2,
        }
    }

    /// One sample, in nanoseconds.
    pub(crate) fn sample(&self, rng: &mut Xoshiro256PlusPlus) -> u64 {
        match self {
            // `as` saturates and maps NaN to 0; samples are never negative.
            LinkDelay::Model(d) => d.sample(rng) as u64,
            LinkDelay::Uniform { min, max } => {
                let lo = duration_nanos(*min);
                let hi = duration_nanos(*max).max(lo);
                match (hi - lo).checked_add(1) {
                    Some(span) => lo + rng.random_range(0..span),
                    None => rng.next_u64(),
                }
            }
        }
    }
}

impl Default for LinkDelay {
    fn default() -> Self {
        LinkDelay::new()
    }
}

impl From<Delay> for LinkDelay {
    fn from(d: Delay) -> Self {
        LinkDelay::Model(d)
    }
}

/// A fault, applied now ([`Simulation::apply`](super::Simulation::apply)) or at an
/// instant ([`Simulation::at`](super::Simulation::at)). Ids must be members added
/// to the simulation; durations must not be zero (except a slow member's delay,
/// where zero ends the slowness).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Fault {
    /// Datagrams from `from` to `to` are lost; the other direction is untouched.
    Cut {
        /// The sender.
        from: u64,
        /// The receiver.
        to: u64,
    },
    /// Undoes a [`Cut`](Self::Cut).
    Uncut {
        /// The sender.
        from: u64,
        /// The receiver.
        to: u64,
    },
    /// The members are split into groups that cannot reach each other (replacing
    /// any previous partition); a member in no group reaches everyone. Datagrams
    /// already in flight are delivered.
    Partition(Vec<Vec<u64>>),
    /// Removes every cut and the partition.
    Heal,
    /// The member stops for good: it sends, handles and ticks nothing more; what
    /// arrives for it is lost, and the datagrams it queued for slow processing or
    /// held during a pause with it. Datagrams it sent before are still delivered.
    Crash(u64),
    /// The member restarts: it crashes (if it had not) and the factory
    /// ([`Simulation::set_factory`](super::Simulation::set_factory)) builds its
    /// successor, of a higher generation, which joins through the seed member.
    Restart(u64),
    /// Stop the world at the member for `duration`: it neither ticks nor handles
    /// anything, so it sends nothing. When it wakes it ticks first (its overdue
    /// timer, before it reads its socket: a naive detector then sees every peer
    /// silent for the whole pause), then handles what arrived meanwhile, in
    /// arrival order.
    Pause {
        /// The member.
        member: u64,
        /// How long; not zero.
        duration: Duration,
    },
    /// Every datagram that reaches the member from now on is handled `delay`
    /// late, first in first out (Lifeguard's "slow member"); zero ends it (what is
    /// queued still comes out in order). Ticks are not delayed.
    Slow {
        /// The member.
        member: u64,
        /// The processing delay.
        delay: Duration,
    },
    /// The delay of every link without an override of its own.
    Delay(LinkDelay),
    /// The delay of one direction of one link (overrides the default).
    LinkDelay {
        /// The sender.
        from: u64,
        /// The receiver.
        to: u64,
        /// Its delay.
        delay: LinkDelay,
    },
    /// The loss of every link ([`Loss::random`] or [`Loss::bursty`]; bursts are
    /// tracked per link and direction, each link's channel starting good).
    Loss(Loss),
}

impl Fault {
    /// The member ids the fault names.
    pub(crate) fn ids(&self) -> Vec<u64> {
        match self {
            Fault::Cut { from, to }
            | Fault::Uncut { from, to }
            | Fault::LinkDelay { from, to, .. } => vec![*from, *to],
            Fault::Partition(groups) => groups.iter().flatten().copied().collect(),
            Fault::Crash(id) | Fault::Restart(id) => vec![*id],
            Fault::Pause { member, .. } | Fault::Slow { member, .. } => vec![*member],
            Fault::Heal | Fault::Delay(_) | Fault::Loss(_) => Vec::new(),
        }
    }

    /// Checks the values (not the ids).
    pub(crate) fn validate(&self) -> Result<(), SimError> {
        match self {
            Fault::Pause { duration, .. } if duration.is_zero() => {
                Err(ConfigError::NotPositive { field: "duration" }.into())
            }
            Fault::Delay(d) | Fault::LinkDelay { delay: d, .. } => validate_delay(d),
            _ => Ok(()),
        }
    }
}

fn validate_delay(d: &LinkDelay) -> Result<(), SimError> {
    match d {
        LinkDelay::Uniform { min, max } if max < min => Err(ConfigError::OutOfRange {
            field: "max",
            allowed: "at least min",
        }
        .into()),
        _ => Ok(()),
    }
}

/// Faults drawn at random rates from the simulation's seed: each member crashes
/// and pauses as a Poisson process (exponential gaps) at the given rates per
/// member-hour, between the instant the faults are drawn and `until`.
///
/// ```
/// use failure_detector::sim::RandomFaults;
/// use std::time::Duration;
///
/// let faults = RandomFaults::new()
///     .with_pauses(6.0, Duration::from_secs(1), Duration::from_secs(7))?
///     .with_crashes(0.5)?;
/// assert!(RandomFaults::new().with_crashes(f64::NAN).is_err());
/// # Ok::<(), failure_detector::sim::SimError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RandomFaults {
    /// Crashes per member-hour. Default 0; finite, at least 0.
    pub crashes_per_member_hour: f64,
    /// A crashed member restarts (through the factory) this long after its crash;
    /// `None` (the default): it stays down.
    pub restart_after: Option<Duration>,
    /// Pauses per member-hour. Default 0; finite, at least 0.
    pub pauses_per_member_hour: f64,
    /// Shortest pause. Default 1 s; not zero.
    pub pause_min: Duration,
    /// Longest pause (uniform between the two). Default 7 s; at least `pause_min`.
    pub pause_max: Duration,
}

impl RandomFaults {
    /// No random faults (the [`Default`]).
    pub const fn new() -> Self {
        RandomFaults {
            crashes_per_member_hour: 0.0,
            restart_after: None,
            pauses_per_member_hour: 0.0,
            pause_min: Duration::from_secs(1),
            pause_max: Duration::from_secs(7),
        }
    }

    /// Sets the crash rate.
    ///
    /// # Errors
    /// [`SimError::Config`] for a NaN, infinite or negative rate.
    pub fn with_crashes(mut self, per_member_hour: f64) -> Result<Self, SimError> {
        self.crashes_per_member_hour = rate("crashes_per_member_hour", per_member_hour)?;
        Ok(self)
    }

    /// Crashed members restart after `after` (not zero).
    ///
    /// # Errors
    /// [`SimError::Config`] for a zero duration.
    pub fn with_restarts(mut self, after: Duration) -> Result<Self, SimError> {
        if after.is_zero() {
            return Err(ConfigError::NotPositive {
                field: "restart_after",
            }
            .into());
        }
        self.restart_after = Some(after);
        Ok(self)
    }

    /// Sets the pause rate and the range of pause lengths.
    ///
    /// # Errors
    /// [`SimError::Config`] for a NaN, infinite or negative rate, a zero
    /// `min` or a `max` below `min`.
    pub fn with_pauses(
        mut self,
        per_member_hour: f64,
        min: Duration,
        max: Duration,
    ) -> Result<Self, SimError> {
        self.pauses_per_member_hour = rate("pauses_per_member_hour", per_member_hour)?;
        self.pause_min = min;
        self.pause_max = max;
        self.validate()?;
        Ok(self)
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`SimError::Config`] naming the field.
    pub fn validate(&self) -> Result<(), SimError> {
        rate("crashes_per_member_hour", self.crashes_per_member_hour)?;
        rate("pauses_per_member_hour", self.pauses_per_member_hour)?;
        if self.pause_min.is_zero() {
            return Err(ConfigError::NotPositive { field: "pause_min" }.into());
        }
        if self.pause_max < self.pause_min {
            return Err(ConfigError::OutOfRange {
                field: "pause_max",
                allowed: "at least pause_min",
            }
            .into());
        }
        if self.restart_after.is_some_and(|d| d.is_zero()) {
            return Err(ConfigError::NotPositive {
                field: "restart_after",
            }
            .into());
        }
        Ok(())
    }

    /// The faults for members `ids` from `from` to `until`, in time order per
    /// kind, drawn from `seed`; at most `max` (else an error, nothing drawn).
    pub(crate) fn draw(
        &self,
        ids: &[u64],
        from: Timestamp,
        until: Timestamp,
        seed: u64,
        max: usize,
    ) -> Result<Vec<(Timestamp, Fault)>, SimError> {
        self.validate()?;
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut out = Vec::new();
        let hour = 3.6e12;
        let start = from.as_nanos() as f64;
        let end = until.as_nanos() as f64;
        for &id in ids {
            // Crashes: the first one only (a crashed member does not crash again
            // unless it restarts; then its clock starts over).
            if self.crashes_per_member_hour > 0.0 {
                let mean = hour / self.crashes_per_member_hour;
                let mut t = start;
                loop {
                    t += exponential(&mut rng, mean);
                    if t >= end {
                        break;
                    }
                    let at = Timestamp::from_nanos(t as u64);
                    out.push((at, Fault::Crash(id)));
                    match self.restart_after {
                        Some(after) => {
                            let back = at.saturating_add(after);
                            if back >= until {
                                break;
                            }
                            out.push((back, Fault::Restart(id)));
                            t = back.as_nanos() as f64;
                        }
                        None => break,
                    }
                    if out.len() > max {
                        return Err(SimError::TooManyFaults { max });
                    }
                }
            }
            if self.pauses_per_member_hour > 0.0 {
                let mean = hour / self.pauses_per_member_hour;
                let (lo, hi) = (
                    duration_nanos(self.pause_min),
                    duration_nanos(self.pause_max),
                );
                let mut t = start;
                loop {
                    t += exponential(&mut rng, mean);
                    if t >= end {
                        break;
                    }
                    let d = lo + rng.random_range(0..=hi - lo);
                    out.push((
                        Timestamp::from_nanos(t as u64),
                        Fault::Pause {
                            member: id,
                            duration: Duration::from_nanos(d),
                        },
                    ));
                    // The next pause starts after this one ends.
                    t += d as f64;
                    if out.len() > max {
                        return Err(SimError::TooManyFaults { max });
                    }
                }
            }
        }
        Ok(out)
    }
}

impl Default for RandomFaults {
    fn default() -> Self {
        RandomFaults::new()
    }
}

fn rate(field: &'static str, r: f64) -> Result<f64, SimError> {
    if !r.is_finite() {
        Err(ConfigError::NotFinite { field }.into())
    } else if r < 0.0 {
        Err(ConfigError::OutOfRange {
            field,
            allowed: "at least 0",
        }
        .into())
    } else {
        Ok(r)
    }
}

/// An exponential sample with this mean (ns).
fn exponential(rng: &mut Xoshiro256PlusPlus, mean: f64) -> f64 {
    // 1 - u is in (0, 1]: the logarithm is finite.
    let u = (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
    -(1.0 - u).ln() * mean
}
