//! A fixed-capacity ring of inter-arrival intervals with exact integer running sums.
//!
//! The ring stores each interval in the unit of its [`Resolution`]: 8 bytes of
//! nanoseconds (exact), 4 bytes of microseconds or 2 bytes of milliseconds. An
//! interval is rounded to the nearest unit (halves up, at least one unit: an
//! interval is never zero) and clamped at the longest storable one; a clamped
//! interval is counted ([`Window::clamped`]), never wrapped.
//!
//! The sums are kept in nanoseconds of the *stored* values (each a whole number of
//! units, so nothing is lost): the sum of intervals in a `u64` and the sum of their
//! squares in a `u128`. So the mean and the variance are computed from exact
//! integers however many heartbeats have passed: nothing drifts, and the variance
//! has no catastrophic cancellation (its numerator `n * sum_sq - sum^2` is an exact
//! integer). They are exact for what is stored; against the intervals as they
//! arrived, the error is the rounding to the unit (at most half a unit per
//! interval, so at most half a unit on the mean).
//!
//! Bounds that make the integers exact (checked by the constructors that use this):
//! at most [`MAX_WINDOW`] samples, each at most [`MAX_INTERVAL_NS`] nanoseconds
//! (the microsecond and millisecond rings store less), so `sum <= 2^62`,
//! `sum_sq <= 2^109`, `n * sum_sq <= 2^124` and `sum^2 <= 2^124`. Keeping `sum`
//! below 2^63 lets it be converted to `f64` through `i64`, which is one instruction
//! on every x86-64 (the unsigned conversion is six).

/// The most bytes of slots an inline window holds (4,096 microsecond slots, 8,192
/// millisecond ones, 2,048 nanosecond ones). A detector is moved by value while it
/// is built and while a registry node is created, and an unoptimised build keeps
/// several copies on the stack: 128 KiB of slots overflowed a thread's 2 MiB stack
/// in a debug build, 64 KiB did not. Larger windows belong on the heap.
pub(crate) const MAX_INLINE_BYTES: usize = 16 * 1024;

/// The largest window a detector may ask for.
pub(crate) const MAX_WINDOW: usize = 1 << 15;

/// Intervals longer than this (2^47 ns, about 39 hours) are recorded as this value
/// by a nanosecond window.
pub(crate) const MAX_INTERVAL_NS: u64 = 1 << 47;

/// How finely a windowed detector stores the intervals of its window, and so how
/// many bytes each slot takes.
///
/// | resolution | bytes per slot | longest storable interval |
/// |---|---|---|
/// | [`Nanosecond`](Self::Nanosecond) | 8 | 2^47 ns (about 39 hours) |
/// | [`Microsecond`](Self::Microsecond) | 4 | 2^32 - 1 µs (about 71.6 minutes) |
/// | [`Millisecond`](Self::Millisecond) | 2 | 65,535 ms (about 65.5 seconds) |
///
/// An interval is rounded to the nearest unit (halves up), and to at least one unit
/// (so a sub-unit interval counts as one unit, never zero). A longer interval than
/// the longest storable is stored as that longest and counted in
/// [`Stats::clamped_intervals`](crate::Stats::clamped_intervals); it never wraps.
/// Mean and variance are exact integer computations over the stored values, so a
/// detector whose heartbeats are whole milliseconds (Akka's and Cassandra's own
/// resolution) computes exactly the same statistics at every resolution.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum Resolution {
    /// Exact nanoseconds, 8 bytes per slot.
    Nanosecond,
    /// Microseconds, 4 bytes per slot: the default.
    #[default]
    Microsecond,
    /// Milliseconds (Akka's unit), 2 bytes per slot: the smallest windows, for very
    /// large fleets of senders whose intervals stay under a minute.
    Millisecond,
}

impl Resolution {
    /// The unit in nanoseconds (1, 1,000 or 1,000,000).
    pub const fn unit_ns(self) -> u64 {
        match self {
            Resolution::Nanosecond => 1,
            Resolution::Microsecond => 1_000,
            Resolution::Millisecond => 1_000_000,
        }
    }

    /// Bytes one window slot takes (8, 4 or 2).
    pub const fn slot_bytes(self) -> usize {
        match self {
            Resolution::Nanosecond => 8,
            Resolution::Microsecond => 4,
            Resolution::Millisecond => 2,
        }
    }

    /// `ns` as a window of this resolution stores it, in nanoseconds: rounded to
    /// the nearest unit (halves up), at least one unit, at most
    /// [`max_interval_ns`](Self::max_interval_ns).
    pub(crate) fn stored_ns(self, ns: u64) -> u64 {
        let unit = self.unit_ns();
        to_units(ns, unit, self.max_interval_ns() / unit).0 * unit
    }

    /// The longest interval a window stores, in nanoseconds; longer ones are stored
    /// as this value and counted.
    pub const fn max_interval_ns(self) -> u64 {
        match self {
            Resolution::Nanosecond => MAX_INTERVAL_NS,
            Resolution::Microsecond => u32::MAX as u64 * 1_000,
            Resolution::Millisecond => u16::MAX as u64 * 1_000_000,
        }
    }
}

/// Where a windowed detector ([`PhiAccrual`](crate::PhiAccrual),
/// [`ExponentialPhi`](crate::ExponentialPhi)) keeps the slots of its window.
///
/// * [`HeapWindow`], the default: the slots in their own heap block, sized and
///   typed at run time from the configuration (its window size and
///   [`Resolution`]).
/// * [`InlineMicros<N>`](InlineMicros), [`InlineMillis<N>`](InlineMillis) and
///   [`InlineNanos<N>`](InlineNanos): `N` slots inside the detector itself, so a
///   detector is one block with no allocation of its own. A registry's nodes hold
///   their detectors inline, so a heartbeat into a registry of such detectors
///   touches the index slot and one node block (not a node and, elsewhere in memory,
///   its window): fewer cache and TLB misses, and no allocator overhead per node.
///   The configuration must ask for exactly `N` samples at the type's resolution.
///
/// ```
/// use failure_detector::{FailureDetector, InlineMicros, PhiAccrual, PhiAccrualConfig, Timestamp};
///
/// let config = PhiAccrualConfig::new().with_max_sample_size(100);
/// let mut fd = PhiAccrual::<InlineMicros<100>>::with_storage(config)?;
/// fd.heartbeat(Timestamp::from_secs(1))?;
/// assert!(fd.is_available(Timestamp::from_secs(2)));
/// // The window is inside the detector: 400 bytes of slots, no heap block.
/// assert_eq!(fd.memory_bytes(), std::mem::size_of_val(&fd));
///
/// // A configuration that does not match the type is refused, naming the field.
/// let other = PhiAccrualConfig::new().with_max_sample_size(1000);
/// assert!(PhiAccrual::<InlineMicros<100>>::with_storage(other).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// The trait is sealed: the crate's four storages are its only implementations.
pub trait WindowStorage: sealed::Slots + Clone + std::fmt::Debug + Send + Sync + 'static {}

pub(crate) use sealed::{Mismatch, TOKEN, Token};

pub(crate) mod sealed {
    use super::Resolution;

    /// Why a storage cannot hold the window a configuration asks for.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Mismatch {
        /// Not the storage's number of slots.
        Capacity,
        /// Not the storage's resolution.
        Resolution,
        /// An inline storage of more than [`MAX_INLINE_BYTES`](super::MAX_INLINE_BYTES).
        TooLarge,
    }

    /// Proof of being this crate: the methods of [`Slots`] that write or index
    /// take one, and no other crate can name or build it, so none can call them
    /// (a bound `S: WindowStorage` brings them into scope).
    #[derive(Clone, Copy)]
    pub struct Token(());

    /// The crate's one [`Token`].
    pub(crate) const TOKEN: Token = Token(());

    /// What a [`Window`](super::Window) needs of its slots. Crate-private in
    /// effect: the module is private, so no other crate can implement it, and its
    /// methods that write or index need a [`Token`].
    pub trait Slots: Sized {
        /// Storage for `capacity` slots at `resolution` (checked by the caller to
        /// be in `1..=MAX_WINDOW`), or why this storage cannot be it.
        fn build(_: Token, capacity: usize, resolution: Resolution) -> Result<Self, Mismatch>;
        /// The number of slots.
        fn capacity(&self) -> usize;
        /// The unit of the slots.
        fn resolution(&self) -> Resolution;
        /// Bytes held outside the value itself.
        fn heap_bytes(&self) -> usize;
        /// Writes `interval_ns` (rounded and clamped to the unit) into slot `head`
        /// (`head < capacity`); returns the new and the evicted value in ns,
        /// whether the new one was clamped, and the capacity.
        fn store(&mut self, _: Token, head: usize, interval_ns: u64) -> (u64, u64, bool, usize);
        /// The value of slot `i` in ns (`i < capacity`).
        fn get_ns(&self, _: Token, i: usize) -> u64;
        /// Told the window's new length after it changes.
        fn note_len(&mut self, _: Token, len: u16);
        /// `1 / len` (0 when empty), exactly as `1.0 / f64::from(len)`.
        fn inv_len(&self, len: u16) -> f64;
    }
}

/// The default [`WindowStorage`]: the window's slots in a heap block of the size and
/// [`Resolution`] the configuration asks for, chosen at run time.
#[derive(Clone, Debug)]
pub struct HeapWindow {
    ring: Ring,
    /// `1 / len` as a float, kept so that the mean needs no division.
    inv_len: f64,
}

impl WindowStorage for HeapWindow {}

impl HeapWindow {
    /// `capacity` slots (clamped to `1..=MAX_WINDOW`, so no index can go out of
    /// bounds) at `resolution`.
    fn new(capacity: usize, resolution: Resolution) -> Self {
        let capacity = capacity.clamp(1, MAX_WINDOW);
        let ring = match resolution {
            Resolution::Nanosecond => Ring::Nanos(vec![0; capacity].into_boxed_slice()),
            Resolution::Microsecond => Ring::Micros(vec![0; capacity].into_boxed_slice()),
            Resolution::Millisecond => Ring::Millis(vec![0; capacity].into_boxed_slice()),
        };
        HeapWindow { ring, inv_len: 0.0 }
    }
}

impl sealed::Slots for HeapWindow {
    fn build(_: Token, capacity: usize, resolution: Resolution) -> Result<Self, Mismatch> {
        Ok(HeapWindow::new(capacity, resolution))
    }

    fn capacity(&self) -> usize {
        match &self.ring {
            Ring::Nanos(r) => r.len(),
            Ring::Micros(r) => r.len(),
            Ring::Millis(r) => r.len(),
        }
    }

    fn resolution(&self) -> Resolution {
        match &self.ring {
            Ring::Nanos(_) => Resolution::Nanosecond,
            Ring::Micros(_) => Resolution::Microsecond,
            Ring::Millis(_) => Resolution::Millisecond,
        }
    }

    fn heap_bytes(&self) -> usize {
        self.capacity() * self.resolution().slot_bytes()
    }

    /// Each arm reads its own slice's length, so that a heartbeat dispatches on
    /// the resolution once.
    #[inline]
    fn store(&mut self, _: Token, head: usize, interval_ns: u64) -> (u64, u64, bool, usize) {
        match &mut self.ring {
            Ring::Nanos(r) => store_in::<u64>(r, head, interval_ns),
            Ring::Micros(r) => store_in::<u32>(r, head, interval_ns),
            Ring::Millis(r) => store_in::<u16>(r, head, interval_ns),
        }
    }

    fn get_ns(&self, _: Token, i: usize) -> u64 {
        match &self.ring {
            Ring::Nanos(r) => r[i].ns(),
            Ring::Micros(r) => r[i].ns(),
            Ring::Millis(r) => r[i].ns(),
        }
    }

    #[inline]
    fn note_len(&mut self, _: Token, len: u16) {
        self.inv_len = if len == 0 { 0.0 } else { 1.0 / f64::from(len) };
    }

    #[inline]
    fn inv_len(&self, _len: u16) -> f64 {
        self.inv_len
    }
}

/// A slot type: an interval in whole units of one resolution.
trait Slot: Copy {
    const RESOLUTION: Resolution;
    /// `units` (at most the type's maximum) as a slot.
    fn from_units(units: u64) -> Self;
    /// The slot's interval in ns.
    fn ns(self) -> u64;
}

impl Slot for u64 {
    const RESOLUTION: Resolution = Resolution::Nanosecond;
    #[inline]
    fn from_units(units: u64) -> Self {
        units
    }
    #[inline]
    fn ns(self) -> u64 {
        self
    }
}

impl Slot for u32 {
    const RESOLUTION: Resolution = Resolution::Microsecond;
    #[inline]
    fn from_units(units: u64) -> Self {
        // At most u32::MAX (the resolution's longest interval).
        units as u32
    }
    #[inline]
    fn ns(self) -> u64 {
        u64::from(self) * 1_000
    }
}

impl Slot for u16 {
    const RESOLUTION: Resolution = Resolution::Millisecond;
    #[inline]
    fn from_units(units: u64) -> Self {
        // At most u16::MAX (the resolution's longest interval).
        units as u16
    }
    #[inline]
    fn ns(self) -> u64 {
        u64::from(self) * 1_000_000
    }
}

/// [`Slots::store`](sealed::Slots::store) for a slice of slots of type `T`.
#[inline]
fn store_in<T: Slot>(slots: &mut [T], head: usize, interval_ns: u64) -> (u64, u64, bool, usize) {
    let resolution = T::RESOLUTION;
    let unit = resolution.unit_ns();
    let (units, clamped) = if unit == 1 {
        // Nanoseconds: no rounding, only the clamp.
        let clamped = interval_ns > MAX_INTERVAL_NS;
        (interval_ns.min(MAX_INTERVAL_NS), clamped)
    } else {
        to_units(interval_ns, unit, resolution.max_interval_ns() / unit)
    };
    let new = T::from_units(units);
    let old = std::mem::replace(&mut slots[head], new);
    (new.ns(), old.ns(), clamped, slots.len())
}

macro_rules! inline_storage {
    ($(#[$doc:meta])* $name:ident, $slot:ty) => {
        $(#[$doc])*
        ///
        /// Build a detector with it through `with_storage`, with a configuration
        /// asking for exactly `N` samples at this resolution; any other is refused
        /// with a [`ConfigError`](crate::ConfigError) naming the field. `N` slots
        /// take at most 16 KiB (a detector is moved by value on the stack while it
        /// is built; larger windows belong on the heap, [`HeapWindow`]).
        #[derive(Clone, Debug)]
        pub struct $name<const N: usize>([$slot; N]);

        impl<const N: usize> WindowStorage for $name<N> {}

        impl<const N: usize> sealed::Slots for $name<N> {
            fn build(_: Token, capacity: usize, resolution: Resolution) -> Result<Self, Mismatch> {
                // The caller checked `capacity` (1 to MAX_WINDOW): so is N if equal.
                if capacity != N {
                    return Err(Mismatch::Capacity);
                }
                if N * std::mem::size_of::<$slot>() > MAX_INLINE_BYTES {
                    return Err(Mismatch::TooLarge);
                }
                if resolution != <$slot as Slot>::RESOLUTION {
                    return Err(Mismatch::Resolution);
                }
                Ok($name([0; N]))
            }

            #[inline]
            fn capacity(&self) -> usize {
                N
            }

            fn resolution(&self) -> Resolution {
                <$slot as Slot>::RESOLUTION
            }

            fn heap_bytes(&self) -> usize {
                0
            }

            #[inline]
            fn store(
                &mut self,
                _: Token,
                head: usize,
                interval_ns: u64,
            ) -> (u64, u64, bool, usize) {
                store_in::<$slot>(&mut self.0, head, interval_ns)
            }

            fn get_ns(&self, _: Token, i: usize) -> u64 {
                self.0[i].ns()
            }

            #[inline]
            fn note_len(&mut self, _: Token, _len: u16) {}

            #[inline]
            fn inv_len(&self, len: u16) -> f64 {
                // The common case (a full window) divides by a constant, folded at
                // compile time; the value is the same as the division's.
                if usize::from(len) == N {
                    1.0 / N as f64
                } else if len == 0 {
                    0.0
                } else {
                    1.0 / f64::from(len)
                }
            }
        }
    };
}

inline_storage!(
    /// A [`WindowStorage`] of `N` microsecond slots (4 bytes each, intervals up to
    /// about 71.6 minutes) inside the detector: for [`Resolution::Microsecond`], the
    /// default.
    InlineMicros,
    u32
);
inline_storage!(
    /// A [`WindowStorage`] of `N` millisecond slots (2 bytes each, intervals up to
    /// 65.535 s) inside the detector: for [`Resolution::Millisecond`].
    InlineMillis,
    u16
);
inline_storage!(
    /// A [`WindowStorage`] of `N` nanosecond slots (8 bytes each, exact, intervals
    /// up to 2^47 ns) inside the detector: for [`Resolution::Nanosecond`].
    InlineNanos,
    u64
);

/// The heap ring's slots, in the unit of the window's resolution.
#[derive(Clone, Debug)]
enum Ring {
    Nanos(Box<[u64]>),
    Micros(Box<[u32]>),
    Millis(Box<[u16]>),
}

/// `ns` in whole `unit`s, rounded to nearest (halves up), at least 1, at most
/// `max`; and whether it was clamped at `max`.
#[inline]
fn to_units(ns: u64, unit: u64, max: u64) -> (u64, bool) {
    let units = ns.saturating_add(unit / 2) / unit;
    if units > max {
        (max, true)
    } else {
        (units.max(1), false)
    }
}

/// A `u128` in two `u64` halves, so that it needs only 8-byte alignment: a
/// detector with an inline window would otherwise be padded to a multiple of 16
/// bytes (8 bytes more per node at a window of 100).
#[derive(Clone, Copy, Debug, Default)]
struct Wide {
    lo: u64,
    hi: u64,
}

impl Wide {
    #[inline]
    fn get(self) -> u128 {
        u128::from(self.hi) << 64 | u128::from(self.lo)
    }

    #[inline]
    fn set(&mut self, x: u128) {
        self.lo = x as u64;
        self.hi = (x >> 64) as u64;
    }
}

/// The sums and the ring's position, then the slots (inline or a heap pointer),
/// in declaration order.
#[derive(Clone, Debug)]
#[repr(C)]
pub(crate) struct Window<S = HeapWindow> {
    /// Sum of the stored intervals, ns (exact: each is a whole number of units).
    sum: u64,
    /// Sum of the squares of the stored intervals, ns^2 (exact).
    sum_sq: Wide,
    /// Index the next sample is written to (the capacity is at most 2^15, so
    /// indices and lengths fit 16 bits).
    head: u16,
    len: u16,
    /// Intervals clamped at the longest storable one since construction or
    /// [`clear`](Self::clear) (saturating).
    clamped: u32,
    slots: S,
}

impl Window {
    /// An empty heap window of `capacity` samples (`1..=MAX_WINDOW`, checked by
    /// callers; out-of-range capacities are clamped so no index can go out of
    /// bounds) at `resolution`.
    pub(crate) fn new(capacity: usize, resolution: Resolution) -> Self {
        Window::with_slots(HeapWindow::new(capacity, resolution))
    }
}

impl<S: WindowStorage> Window<S> {
    /// An empty window of `capacity` samples (`1..=MAX_WINDOW`, checked by the
    /// caller) at `resolution` in the storage `S`, or why `S` cannot hold it.
    pub(crate) fn build(capacity: usize, resolution: Resolution) -> Result<Self, Mismatch> {
        S::build(TOKEN, capacity, resolution).map(Window::with_slots)
    }

    /// [`build`](Self::build) for a detector's configuration: a mismatch is a
    /// [`ConfigError`] naming `capacity_field` or `resolution`.
    pub(crate) fn for_config(
        capacity_field: &'static str,
        capacity: usize,
        resolution: Resolution,
    ) -> Result<Self, crate::error::ConfigError> {
        Self::build(capacity, resolution).map_err(|m| match m {
            Mismatch::Capacity => crate::error::ConfigError::OutOfRange {
                field: capacity_field,
                allowed: "exactly the N of the detector's inline window storage \
                          (InlineMicros<N>, InlineMillis<N> or InlineNanos<N>)",
            },
            Mismatch::TooLarge => crate::error::ConfigError::OutOfRange {
                field: capacity_field,
                allowed: "an inline window holds at most 16 KiB of slots (4,096 at \
                          microseconds, 8,192 at milliseconds, 2,048 at nanoseconds); \
                          larger windows go on the heap (HeapWindow)",
            },
            Mismatch::Resolution => crate::error::ConfigError::OutOfRange {
                field: "resolution",
                allowed: "the resolution of the detector's inline window storage \
                          (Microsecond for InlineMicros, Millisecond for InlineMillis, \
                          Nanosecond for InlineNanos)",
            },
        })
    }

    fn with_slots(slots: S) -> Self {
        Window {
            sum: 0,
            sum_sq: Wide::default(),
            head: 0,
            len: 0,
            clamped: 0,
            slots,
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.slots.capacity()
    }

    /// Bytes of heap the slots occupy (8, 4 or 2 per slot; 0 inline).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.slots.heap_bytes()
    }

    pub(crate) fn len(&self) -> usize {
        self.len as usize
    }

    /// Intervals clamped at the longest storable one since construction or the
    /// last [`clear`](Self::clear).
    pub(crate) fn clamped(&self) -> u64 {
        u64::from(self.clamped)
    }

    #[cfg(test)]
    pub(crate) fn sum(&self) -> u64 {
        self.sum
    }

    #[cfg(test)]
    pub(crate) fn sum_sq(&self) -> u128 {
        self.sum_sq.get()
    }

    /// Empties the window (and its count of clamped intervals); its slots are
    /// kept.
    pub(crate) fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
        self.sum = 0;
        self.sum_sq = Wide::default();
        self.clamped = 0;
        self.slots.note_len(TOKEN, 0);
    }

    /// The slot the next interval is written to, in ns: reading it fetches the
    /// cache line the next [`push`](Self::push) writes.
    #[inline]
    pub(crate) fn next_slot(&self) -> u64 {
        self.slots.get_ns(TOKEN, usize::from(self.head))
    }

    /// Adds one interval (rounded to the resolution, clamped to the longest
    /// storable), evicting the oldest when full. Returns whether the window grew
    /// (it was not full). O(1), no allocation.
    #[inline]
    pub(crate) fn push(&mut self, interval_ns: u64) -> bool {
        let (x, old, clamped, cap) = self.slots.store(TOKEN, usize::from(self.head), interval_ns);
        // At most MAX_WINDOW = 2^15: fits.
        let cap = cap as u16;
        self.clamped += u32::from(clamped) & u32::from(self.clamped != u32::MAX);
        if self.len == cap {
            // x^2 - old^2 = (x - old)(x + old): one multiplication instead of two.
            // Both factors are below 2^48 in magnitude; the sum of squares stays
            // non-negative, so wrapping two's-complement addition is exact.
            // Both factors as i64 (|.| < 2^48), so the product is one signed
            // 64 x 64 -> 128 multiplication.
            let diff = x as i64 - old as i64;
            let delta = i128::from(diff) * i128::from((x + old) as i64);
            self.sum_sq
                .set(self.sum_sq.get().wrapping_add(delta as u128));
            self.sum = self.sum - old + x;
            self.advance(cap);
            false
        } else {
            self.len += 1;
            self.slots.note_len(TOKEN, self.len);
            self.sum += x;
            self.sum_sq
                .set(self.sum_sq.get() + u128::from(x) * u128::from(x));
            self.advance(cap);
            true
        }
    }

    #[inline]
    fn advance(&mut self, cap: u16) {
        self.head += 1;
        if self.head == cap {
            self.head = 0;
        }
    }

    /// Mean interval in nanoseconds; 0 when empty. Relative error at most 2^-52
    /// (the exact integer sum is rounded once, then scaled by a rounded `1/n`).
    #[inline]
    pub(crate) fn mean(&self) -> f64 {
        // sum <= 2^62: the signed conversion is exact in range and cheaper.
        self.sum as i64 as f64 * self.inv_len()
    }

    /// `n^2` times the population variance, exactly: `n * sum_sq - sum^2` (never
    /// negative: by Cauchy-Schwarz `n * sum_sq >= sum^2`). At most 2^124.
    #[inline]
    pub(crate) fn variance_numerator(&self) -> u128 {
        let s = u128::from(self.sum);
        u128::from(self.len) * self.sum_sq.get() - s * s
    }

    /// Population variance (divided by `n`, as Akka and Cassandra do) in ns^2; 0 when
    /// empty. The numerator is exact; the result has a relative error of at most
    /// about 2^-51.
    #[inline]
    pub(crate) fn variance(&self) -> f64 {
        variance_from_numerator(self.variance_numerator(), self.inv_len())
    }

    /// `1 / len` (0 when empty).
    #[inline]
    pub(crate) fn inv_len(&self) -> f64 {
        self.slots.inv_len(self.len)
    }

    /// The samples, oldest first (for tests and diagnostics; allocates).
    #[cfg(test)]
    pub(crate) fn samples(&self) -> Vec<u64> {
        let cap = self.capacity();
        let (head, len) = (self.head as usize, self.len as usize);
        let start = (head + cap - len) % cap;
        (0..len)
            .map(|i| self.slots.get_ns(TOKEN, (start + i) % cap))
            .collect()
    }
}

/// `numerator / n^2` as a float, given `1/n`.
#[inline]
pub(crate) fn variance_from_numerator(numerator: u128, inv_len: f64) -> f64 {
    u128_to_f64(numerator) * inv_len * inv_len
}

/// `u128 -> f64` through its two 64-bit halves, within two units in the last place of
/// the correctly rounded value (exact below 2^53).
///
/// The halves are converted as *unsigned*: on baseline x86-64 that is a short
/// sequence of full-register vector operations, where the signed `cvtsi2sd` would
/// write only the low lane of its destination. LLVM does not always break that false
/// dependency, and here it chained every heartbeat's conversion to the previous one's
/// square root and division (12 ns per heartbeat instead of 5 for jittery senders).
#[inline]
fn u128_to_f64(x: u128) -> f64 {
    const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;
    let hi = (x >> 64) as u64;
    let lo = x as u64;
    hi as f64 * TWO_POW_64 + lo as f64
}

#[cfg(test)]
mod tests {
    use super::sealed::Slots;
    use super::*;
    use proptest::prelude::*;

    fn naive_mean(xs: &[u64]) -> f64 {
        xs.iter().map(|&x| x as f64).sum::<f64>() / xs.len() as f64
    }

    /// Two-pass variance in exact rational arithmetic via i128 where it fits.
    fn naive_variance(xs: &[u64]) -> f64 {
        let n = xs.len() as i128;
        let s: i128 = xs.iter().map(|&x| x as i128).sum();
        // sum over (n*x - s)^2 / n^3, exactly in integers when small enough
        let num: i128 = xs
            .iter()
            .map(|&x| {
                let d = n * x as i128 - s;
                d * d
            })
            .sum();
        num as f64 / (n * n * n) as f64
    }

    #[test]
    fn fills_then_evicts_oldest() {
        let mut w = Window::new(3, Resolution::Nanosecond);
        for x in [10, 20, 30, 40] {
            w.push(x);
        }
        assert_eq!(w.samples(), vec![20, 30, 40]);
        assert_eq!(w.len(), 3);
        assert_eq!(w.sum(), 90);
        assert_eq!(w.sum_sq(), 400 + 900 + 1600);
        assert_eq!(w.mean(), 30.0);
        assert!((w.variance() - 200.0 / 3.0).abs() < 1e-12);
        w.clear();
        assert_eq!((w.len(), w.sum(), w.sum_sq()), (0, 0, 0));
        assert_eq!(w.mean(), 0.0);
        assert_eq!(w.variance(), 0.0);
        assert_eq!(w.capacity(), 3);
    }

    #[test]
    fn clamps_huge_intervals() {
        let mut w = Window::new(2, Resolution::Nanosecond);
        w.push(u64::MAX);
        w.push(u64::MAX);
        assert_eq!(w.sum(), 2 * MAX_INTERVAL_NS);
        assert_eq!(w.variance(), 0.0);
        assert_eq!(w.mean(), MAX_INTERVAL_NS as f64);
        assert_eq!(w.clamped(), 2);
        w.push(5);
        assert_eq!(w.clamped(), 2);
        w.clear();
        assert_eq!(w.clamped(), 0);
    }

    /// The oracle's rounding: nearest unit, halves up, at least one unit, at most
    /// the longest storable; in ns.
    fn rounded(ns: u64, resolution: Resolution) -> u64 {
        let unit = resolution.unit_ns();
        let units = (u128::from(ns) + u128::from(unit / 2)) / u128::from(unit);
        let units = units.clamp(1, u128::from(resolution.max_interval_ns() / unit));
        units as u64 * unit
    }

    #[test]
    fn compact_rings_round_clamp_and_count() {
        let mut w = Window::new(4, Resolution::Microsecond);
        for x in [1, 499, 1_499, 1_500, 2_499_999] {
            w.push(x);
        }
        // Sub-unit intervals count as one unit; halves round up.
        assert_eq!(w.samples(), vec![1_000, 1_000, 2_000, 2_500_000]);
        assert_eq!(w.clamped(), 0);
        w.push(u64::MAX);
        w.push(Resolution::Microsecond.max_interval_ns() + 499);
        assert_eq!(w.clamped(), 1, "only the one beyond the last half unit");
        assert_eq!(w.heap_bytes(), 16);

        let mut w = Window::new(3, Resolution::Millisecond);
        w.push(65_535_499_999);
        assert_eq!(w.clamped(), 0);
        w.push(65_535_500_000);
        w.push(3_600_000_000_000);
        assert_eq!(w.clamped(), 2);
        assert_eq!(w.samples(), vec![65_535_000_000; 3]);
        assert_eq!(w.variance(), 0.0);
        assert_eq!(w.heap_bytes(), 6);
        assert_eq!(w.slots.resolution(), Resolution::Millisecond);
        assert_eq!(Window::new(3, Resolution::Nanosecond).heap_bytes(), 24);
    }

    #[test]
    fn compact_rings_exact_at_their_bounds() {
        for resolution in [Resolution::Microsecond, Resolution::Millisecond] {
            let max = resolution.max_interval_ns();
            let unit = resolution.unit_ns();
            let mut w = Window::new(MAX_WINDOW, resolution);
            for i in 0..MAX_WINDOW {
                w.push(if i % 2 == 0 { max } else { unit });
            }
            let half_range = (max - unit) as f64 / 2.0;
            let rel = (w.variance() - half_range * half_range).abs() / (half_range * half_range);
            assert!(rel < 1e-15, "{resolution:?}: relative error {rel}");
            assert_eq!(w.sum(), (MAX_WINDOW as u64 / 2) * (max + unit));
            assert_eq!(w.clamped(), 0);
        }
    }

    #[test]
    fn whole_milliseconds_give_the_same_statistics_at_every_resolution() {
        let xs: Vec<u64> = (0..500u64)
            .map(|i| (900 + (i * 7919) % 211) * 1_000_000)
            .collect();
        let mut ws = [
            Window::new(100, Resolution::Nanosecond),
            Window::new(100, Resolution::Microsecond),
            Window::new(100, Resolution::Millisecond),
        ];
        for &x in &xs {
            for w in &mut ws {
                w.push(x);
            }
        }
        for w in &ws[1..] {
            assert_eq!(w.samples(), ws[0].samples());
            assert_eq!(w.mean().to_bits(), ws[0].mean().to_bits());
            assert_eq!(w.variance_numerator(), ws[0].variance_numerator());
        }
    }

    #[test]
    fn exact_at_the_integer_bounds() {
        // The largest window full of the largest and smallest intervals: the sums must
        // not overflow and the variance must be exact (max - min)^2 / 4.
        let mut w = Window::new(MAX_WINDOW, Resolution::Nanosecond);
        for i in 0..MAX_WINDOW {
            w.push(if i % 2 == 0 { MAX_INTERVAL_NS } else { 1 });
        }
        let half_range = (MAX_INTERVAL_NS - 1) as f64 / 2.0;
        let rel = (w.variance() - half_range * half_range).abs() / (half_range * half_range);
        assert!(rel < 1e-15, "relative error {rel}");
        assert_eq!(w.sum(), (MAX_WINDOW as u64 / 2) * (MAX_INTERVAL_NS + 1));
    }

    #[test]
    fn u128_conversion_is_close_to_correct_rounding() {
        for x in [
            0u128,
            1,
            (1 << 53) + 1,
            (1 << 62) - 1,
            1 << 62,
            u64::MAX as u128,
            (u64::MAX as u128) + 1,
            u128::MAX >> 3,
            (1u128 << 124) - 12345,
            123_456_789_012_345_678_901_234_567_890,
        ] {
            let fast = u128_to_f64(x);
            let exact = x as f64;
            assert!((fast - exact).abs() <= 2.0 * exact * f64::EPSILON, "{x}");
        }
    }

    #[test]
    fn no_drift_over_a_long_run() {
        // Ten million pushes of values with fractional means: integer sums stay exact.
        let mut w = Window::new(1000, Resolution::Nanosecond);
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..10_000_000 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            w.push(100_000_000 + (state >> 40) % 1_000_000);
        }
        let xs = w.samples();
        assert_eq!(w.sum(), xs.iter().sum::<u64>());
        assert_eq!(
            w.sum_sq(),
            xs.iter()
                .map(|&x| u128::from(x) * u128::from(x))
                .sum::<u128>()
        );
        let v = naive_variance(&xs);
        assert!((w.variance() - v).abs() <= v * 1e-12);
    }

    proptest! {
        #[test]
        fn sums_always_equal_a_naive_recomputation(
            cap in 1usize..64,
            xs in proptest::collection::vec(0u64..=MAX_INTERVAL_NS * 2, 0..300),
        ) {
            let mut w = Window::new(cap, Resolution::Nanosecond);
            let mut all = Vec::new();
            for &x in &xs {
                w.push(x);
                all.push(x.min(MAX_INTERVAL_NS));
                let tail = &all[all.len().saturating_sub(cap)..];
                prop_assert_eq!(w.samples(), tail.to_vec());
                prop_assert_eq!(w.sum(), tail.iter().sum::<u64>());
                prop_assert_eq!(
                    w.sum_sq(),
                    tail.iter().map(|&x| u128::from(x) * u128::from(x)).sum::<u128>()
                );
                let m = naive_mean(tail);
                prop_assert!((w.mean() - m).abs() <= m * 1e-15);
            }
        }

        #[test]
        fn variance_matches_two_pass_oracle(
            xs in proptest::collection::vec(1u64..=1u64 << 40, 1..100),
        ) {
            let mut w = Window::new(xs.len(), Resolution::Nanosecond);
            for &x in &xs {
                w.push(x);
            }
            let v = naive_variance(&xs);
            prop_assert!(w.variance() >= 0.0);
            prop_assert!((w.variance() - v).abs() <= v * 1e-14 + 1e-300);
        }

        /// The compact rings against a naive oracle on the rounded values: the
        /// stored samples, the exact sums, mean, variance and the clamped count.
        #[test]
        fn compact_rings_match_an_oracle_on_rounded_values(
            cap in 1usize..48,
            millis in any::<bool>(),
            xs in proptest::collection::vec(
                prop_oneof![
                    0u64..=5_000,
                    0u64..=100_000_000_000,
                    0u64..=5_000_000_000_000,
                    Just(u64::MAX),
                ],
                1..200,
            ),
        ) {
            let resolution = if millis { Resolution::Millisecond } else { Resolution::Microsecond };
            let mut w = Window::new(cap, resolution);
            let mut all = Vec::new();
            let mut clamped = 0u64;
            for &x in &xs {
                w.push(x);
                let unit = resolution.unit_ns();
                if (u128::from(x) + u128::from(unit / 2)) / u128::from(unit)
                    > u128::from(resolution.max_interval_ns() / unit)
                {
                    clamped += 1;
                }
                all.push(rounded(x, resolution));
                let tail = &all[all.len().saturating_sub(cap)..];
                prop_assert_eq!(w.samples(), tail.to_vec());
                prop_assert_eq!(w.sum(), tail.iter().sum::<u64>());
                prop_assert_eq!(
                    w.sum_sq(),
                    tail.iter().map(|&x| u128::from(x) * u128::from(x)).sum::<u128>()
                );
                prop_assert_eq!(w.clamped(), clamped);
                let m = naive_mean(tail);
                prop_assert!((w.mean() - m).abs() <= m * 1e-15);
                let v = naive_variance(tail);
                prop_assert!(w.variance() >= 0.0);
                prop_assert!((w.variance() - v).abs() <= v * 1e-12 + 1e-300);
            }
        }
    }
}
