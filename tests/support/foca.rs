//! `foca` (github.com/caio/foca, 2.0; "the" Rust SWIM, sans-IO) behind this
//! crate's [`ClusterMember<u64>`], so the in-memory network (and the simulator)
//! run foca members on the same scenarios as ours, as an outside reference.
//!
//! Nothing of foca's protocol is copied here: [`FocaMember`] only drives
//! `foca::Foca` (its SWIM with suspicion, periodic gossip and announce) and
//! translates what it exposes.
//!
//! **Identity.** [`FocaId`] is the member id (`u64`, foca's `Identity::Addr`:
//! one entry per id in foca's member list) plus a generation. Of two identities
//! with the same id, the higher generation wins (`win_addr_conflict`). `renew`
//! (foca's auto-rejoin when the cluster declared this member down) bumps the
//! generation by one, so a falsely convicted member comes back at once as a
//! "restart": generations of real restarts should therefore leave room (a start
//! time, not a counter), or a renewed identity and a restarted one may collide.
//!
//! **Runtime.** foca's `send_to` fills a queue ([`poll_datagram`]); its
//! `submit_after` puts the timer in a `BTreeMap` keyed by (deadline, sequence),
//! which [`tick`] fires in that order (timers submitted during a tick wait for
//! the next one, so a tick always ends); [`next_deadline`] is the earliest.
//!
//! **Events.** foca notifies `MemberUp`, `MemberDown`, `Rename`, `Active`,
//! `Idle`, `Defunct` and `Rejoin`, but not suspicions nor removals. Its member
//! list does hold each member's state (Alive, Suspect, Down), so after every
//! input that may have changed it (a notification, a member encoded by foca:
//! foca encodes every update it applies, in order to gossip it; a `RemoveDown`
//! timer), the adapter compares foca's list with its own copy, in id order:
//!
//! | foca | event |
//! |---|---|
//! | new member, Alive or Suspect (`MemberUp`) | `Joined` (then `Changed` Alive to Suspect if Suspect) |
//! | Alive to Suspect, Suspect to Alive (no notification) | `Changed` |
//! | Alive or Suspect to Down (`MemberDown`) | `Changed` to Dead |
//! | higher generation of a known id (`Rename`) | `Restarted` (then `Changed` if not Alive) |
//! | Down member forgotten (`RemoveDown` timer, 24 h by default) | `Removed` |
//! | this member's incarnation rises (seen in the headers it sends) | `Refuted` |
//!
//! A member first heard of as Down (a tombstone foca keeps) gets no event; it
//! is listed as Dead. `Active`, `Idle`, `Defunct` and `Rejoin` concern this
//! member: they are counted in [`FocaStats`], and [`me`](ClusterMember::me)
//! follows a rejoin. foca has no local pause guard, isolation rule or deferred
//! conviction (no `LocalPause`, `Isolated`, `Reconnected`, `Deferred`), and a
//! convicted (Down) identity never comes back Alive: only a new generation does.
//!
//! **Wire.** The codec is this adapter's (foca's `Codec` trait on foca's `bytes`
//! traits), with this crate's varints and offset-carrying `Reader`: a magic byte
//! [`FOCA_MAGIC`], then foca's header (sender id, generation, incarnation,
//! receiver id, generation, message tag and fields); foca itself adds a 16-bit
//! count and the updates (id, generation, incarnation, state). Every datagram is
//! decoded and checked in full (sender, foca's own refusals, the member bound)
//! before foca sees it, so a refused datagram leaves foca untouched; foca's own
//! checks would refuse some only after applying their updates.
//!
//! **What foca does that ours does not** (seen on the harness, foca 2.0.0):
//! only the member whose probe failed starts the Down timer; the others learn
//! Suspect and Down by gossip, each update sent `max_transmissions`
//! (`4 log10(n + 1)`, 2 at n = 4) times in all, so a suspected member may never
//! hear of it in time to refute. With `notify_down_members` (on in both
//! presets) the suspecting member sends `TurnUndead` when its Down timer fires
//! even if the suspicion was refuted meanwhile, and the member then renews its
//! identity: a refuted suspicion still shows as a restart. There is no
//! isolation rule: the minority side of a partition declares the majority
//! Down, and after the heal (foca announces to Down members every 65 s, LAN)
//! every member renews.
//!
//! **Cost.** Memory per member entry: foca's (`Member<FocaId>`, 24 bytes, and
//! its serialized update while it is being gossiped) plus the adapter's copy
//! (a `BTreeMap` entry of 8 + 24 bytes, about 40 with the tree's overhead).
//! foca looks members up by a linear scan (O(N) per applied update); the
//! adapter's comparison is O(N log N), run only after inputs that changed
//! something.
//!
//! [`poll_datagram`]: ClusterMember::poll_datagram
//! [`tick`]: ClusterMember::tick
//! [`next_deadline`]: ClusterMember::next_deadline

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::convert::Infallible;
use std::fmt;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::{Buf, BufMut};
use failure_detector::cluster::wire::{Reader, put_varint};
use failure_detector::cluster::{
    ClusterEvent, ClusterMember, Datagram, DecodeError, DecodeErrorKind, MAX_SEEDS, Member,
    SeededRng,
};
use failure_detector::{ConfigError, NodeState, Timestamp};
use foca::{
    Codec, Config, Foca, Header, Identity, Message, NoCustomBroadcast, Notification, Runtime,
    State, Timer,
};

/// The first byte of every datagram of the foca adapter.
pub const FOCA_MAGIC: u8 = 0xFC;

/// The default bound on members (known and Down) a member keeps, as
/// `SwimConfig::lan`'s `max_members` (foca itself has no bound).
pub const DEFAULT_MAX_MEMBERS: usize = 16_384;

/// The smallest `max_packet_size` accepted: room for the largest header (two
/// identities, a third in the message, 69 bytes) and a few updates.
pub const MIN_PACKET_SIZE: usize = 128;

/// A foca identity: the member's id and its generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FocaId {
    /// The member id (foca's `Identity::Addr`).
    pub id: u64,
    /// The generation: higher wins a conflict on the same id.
    pub generation: u64,
}

impl FocaId {
    fn member(self) -> Member<u64> {
        Member::new(self.id, self.generation)
    }
}

impl Identity for FocaId {
    type Addr = u64;

    /// The next generation (none at `u64::MAX`: foca then goes defunct).
    fn renew(&self) -> Option<Self> {
        Some(FocaId {
            id: self.id,
            generation: self.generation.checked_add(1)?,
        })
    }

    fn addr(&self) -> u64 {
        self.id
    }

    fn win_addr_conflict(&self, adversary: &Self) -> bool {
        self.generation > adversary.generation
    }
}

// Message tags of the adapter's codec.
const TAG_PING: u8 = 0;
const TAG_ACK: u8 = 1;
const TAG_PING_REQ: u8 = 2;
const TAG_INDIRECT_PING: u8 = 3;
const TAG_INDIRECT_ACK: u8 = 4;
const TAG_FORWARDED_ACK: u8 = 5;
const TAG_ANNOUNCE: u8 = 6;
const TAG_FEED: u8 = 7;
const TAG_GOSSIP: u8 = 8;
const TAG_BROADCAST: u8 = 9;
const TAG_TURN_UNDEAD: u8 = 10;

fn put_id(out: &mut Vec<u8>, id: &FocaId) {
    put_varint(out, id.id);
    put_varint(out, id.generation);
}

fn read_id(r: &mut Reader<'_>) -> Result<FocaId, DecodeError> {
    Ok(FocaId {
        id: r.varint()?,
        generation: r.varint()?,
    })
}

fn read_incarnation(r: &mut Reader<'_>) -> Result<u16, DecodeError> {
    let at = r.offset();
    let v = r.varint()?;
    u16::try_from(v).map_err(|_| {
        Reader::error_at(
            at,
            DecodeErrorKind::OutOfRange {
                what: "incarnation",
            },
        )
    })
}

fn put_header(out: &mut Vec<u8>, h: &Header<FocaId>) {
    out.push(FOCA_MAGIC);
    put_id(out, &h.src);
    put_varint(out, u64::from(h.src_incarnation));
    put_id(out, &h.dst);
    let (tag, id, probe) = match &h.message {
        Message::Ping(p) => (TAG_PING, None, Some(*p)),
        Message::Ack(p) => (TAG_ACK, None, Some(*p)),
        Message::PingReq {
            target,
            probe_number,
        } => (TAG_PING_REQ, Some(target), Some(*probe_number)),
        Message::IndirectPing {
            origin,
            probe_number,
        } => (TAG_INDIRECT_PING, Some(origin), Some(*probe_number)),
        Message::IndirectAck {
            target,
            probe_number,
        } => (TAG_INDIRECT_ACK, Some(target), Some(*probe_number)),
        Message::ForwardedAck {
            origin,
            probe_number,
        } => (TAG_FORWARDED_ACK, Some(origin), Some(*probe_number)),
        Message::Announce => (TAG_ANNOUNCE, None, None),
        Message::Feed => (TAG_FEED, None, None),
        Message::Gossip => (TAG_GOSSIP, None, None),
        Message::Broadcast => (TAG_BROADCAST, None, None),
        Message::TurnUndead => (TAG_TURN_UNDEAD, None, None),
    };
    out.push(tag);
    if let Some(id) = id {
        put_id(out, id);
    }
    if let Some(p) = probe {
        out.push(p);
    }
}

/// Reads a header; returns it with the offset of its message tag.
fn read_header(r: &mut Reader<'_>) -> Result<(Header<FocaId>, usize), DecodeError> {
    let magic = r.u8()?;
    if magic != FOCA_MAGIC {
        return Err(Reader::error_at(0, DecodeErrorKind::BadMagic(magic)));
    }
    let src = read_id(r)?;
    let src_incarnation = read_incarnation(r)?;
    let dst = read_id(r)?;
    let tag_at = r.offset();
    let message = match r.u8()? {
        TAG_PING => Message::Ping(r.u8()?),
        TAG_ACK => Message::Ack(r.u8()?),
        TAG_PING_REQ => Message::PingReq {
            target: read_id(r)?,
            probe_number: r.u8()?,
        },
        TAG_INDIRECT_PING => Message::IndirectPing {
            origin: read_id(r)?,
            probe_number: r.u8()?,
        },
        TAG_INDIRECT_ACK => Message::IndirectAck {
            target: read_id(r)?,
            probe_number: r.u8()?,
        },
        TAG_FORWARDED_ACK => Message::ForwardedAck {
            origin: read_id(r)?,
            probe_number: r.u8()?,
        },
        TAG_ANNOUNCE => Message::Announce,
        TAG_FEED => Message::Feed,
        TAG_GOSSIP => Message::Gossip,
        TAG_BROADCAST => Message::Broadcast,
        TAG_TURN_UNDEAD => Message::TurnUndead,
        other => {
            return Err(Reader::error_at(
                tag_at,
                DecodeErrorKind::UnknownKind(other),
            ));
        }
    };
    Ok((
        Header {
            src,
            src_incarnation,
            dst,
            message,
        },
        tag_at,
    ))
}

fn put_member(out: &mut Vec<u8>, m: &foca::Member<FocaId>) {
    put_id(out, m.id());
    put_varint(out, u64::from(m.incarnation()));
    out.push(match m.state() {
        State::Alive => 0,
        State::Suspect => 1,
        State::Down => 2,
    });
}

fn read_member(r: &mut Reader<'_>) -> Result<foca::Member<FocaId>, DecodeError> {
    let id = read_id(r)?;
    let incarnation = read_incarnation(r)?;
    let at = r.offset();
    let state = match r.u8()? {
        0 => State::Alive,
        1 => State::Suspect,
        2 => State::Down,
        _ => {
            return Err(Reader::error_at(
                at,
                DecodeErrorKind::OutOfRange {
                    what: "member state",
                },
            ));
        }
    };
    Ok(foca::Member::new(id, incarnation, state))
}

/// A datagram as foca would send it: the header, then (when `updates` is not
/// empty) a 16-bit big-endian count and the updates (for tests of hostile input).
pub fn encode_datagram(header: &Header<FocaId>, updates: &[foca::Member<FocaId>]) -> Vec<u8> {
    let mut out = Vec::new();
    put_header(&mut out, header);
    if !updates.is_empty() {
        let n = u16::try_from(updates.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&n.to_be_bytes());
        for m in updates.iter().take(usize::from(n)) {
            put_member(&mut out, m);
        }
    }
    out
}

/// Why the adapter's codec failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodecError {
    /// Malformed bytes (offset from where foca started decoding the item).
    Decode(DecodeError),
    /// The item does not fit in what remains of the packet.
    Full,
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodecError::Decode(e) => e.fmt(f),
            CodecError::Full => f.write_str("no room left in the packet"),
        }
    }
}

impl std::error::Error for CodecError {}

/// What the codec saw foca encode, for the adapter.
#[derive(Debug, Default)]
struct Tap {
    /// foca encoded a member: an update it applied (or a feed).
    dirty: bool,
    /// The last header foca sent: its identity and incarnation.
    sent: Option<(FocaId, u16)>,
}

/// The adapter's codec (see the module docs for the format).
pub struct FocaCodec {
    tap: Arc<Mutex<Tap>>,
    scratch: Vec<u8>,
}

impl FocaCodec {
    fn put(&mut self, mut buf: impl BufMut) -> Result<(), CodecError> {
        if buf.remaining_mut() < self.scratch.len() {
            return Err(CodecError::Full);
        }
        buf.put_slice(&self.scratch);
        Ok(())
    }

    fn tap(&self) -> std::sync::MutexGuard<'_, Tap> {
        self.tap.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The bytes of a contiguous `Buf` (foca hands in a `&[u8]`), decoded by `read`,
/// the cursor advanced past them.
fn decode_from<B: Buf, T>(
    mut buf: B,
    read: impl FnOnce(&mut Reader<'_>) -> Result<T, DecodeError>,
) -> Result<T, CodecError> {
    let (value, used) = {
        let chunk = buf.chunk();
        if chunk.len() != buf.remaining() {
            return Err(CodecError::Decode(Reader::error_at(
                chunk.len(),
                DecodeErrorKind::Truncated,
            )));
        }
        let mut r = Reader::new(chunk);
        (read(&mut r).map_err(CodecError::Decode)?, r.offset())
    };
    buf.advance(used);
    Ok(value)
}

impl Codec<FocaId> for FocaCodec {
    type Error = CodecError;

    fn encode_header(
        &mut self,
        header: &Header<FocaId>,
        buf: impl BufMut,
    ) -> Result<(), CodecError> {
        self.scratch.clear();
        put_header(&mut self.scratch, header);
        self.put(buf)?;
        self.tap().sent = Some((header.src, header.src_incarnation));
        Ok(())
    }

    fn decode_header(&mut self, buf: impl Buf) -> Result<Header<FocaId>, CodecError> {
        decode_from(buf, |r| read_header(r).map(|(h, _)| h))
    }

    fn encode_member(
        &mut self,
        member: &foca::Member<FocaId>,
        buf: impl BufMut,
    ) -> Result<(), CodecError> {
        self.scratch.clear();
        put_member(&mut self.scratch, member);
        self.tap().dirty = true;
        self.put(buf)
    }

    fn decode_member(&mut self, buf: impl Buf) -> Result<foca::Member<FocaId>, CodecError> {
        decode_from(buf, read_member)
    }
}

/// foca's randomness: this crate's [`SeededRng`].
pub struct FocaRng(SeededRng);

impl rand::TryRng for FocaRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok((self.0.next_u64() >> 32) as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.0.next_u64())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let bytes = self.0.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        Ok(())
    }
}

/// What a [`FocaMember`] counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FocaStats {
    /// Datagrams refused ([`DecodeError`]).
    pub refused: u64,
    /// Errors foca returned on a timer, a join or a datagram that passed the
    /// adapter's checks (none expected).
    pub foca_errors: u64,
    /// `Active` notifications: this member is known by an active member.
    pub active: u64,
    /// `Idle` notifications: every member it knew left or went down.
    pub idle: u64,
    /// `Defunct` notifications: declared down, and could not renew.
    pub defunct: u64,
    /// `Rejoin` notifications: declared down, it renewed its identity.
    pub rejoins: u64,
}

/// foca's `Runtime`: queues, ordered timers, notifications counted.
struct Rt {
    now: Timestamp,
    seq: u64,
    timers: BTreeMap<(Timestamp, u64), Timer<FocaId>>,
    out: VecDeque<Datagram<u64>>,
    dirty: bool,
    stats: FocaStats,
}

impl Runtime<FocaId> for Rt {
    fn notify(&mut self, notification: Notification<'_, FocaId>) {
        self.dirty = true;
        match notification {
            Notification::Active => self.stats.active += 1,
            Notification::Idle => self.stats.idle += 1,
            Notification::Defunct => self.stats.defunct += 1,
            Notification::Rejoin(_) => self.stats.rejoins += 1,
            // Read from foca's member list (see the module docs).
            Notification::MemberUp(_) | Notification::MemberDown(_) | Notification::Rename(..) => {}
        }
    }

    fn send_to(&mut self, to: FocaId, data: &[u8]) {
        self.out.push_back(Datagram {
            to: to.id,
            bytes: data.to_vec(),
        });
    }

    fn submit_after(&mut self, event: Timer<FocaId>, after: Duration) {
        self.seq += 1;
        self.timers.insert((self.now + after, self.seq), event);
    }
}

/// What the adapter last saw of a member in foca's list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Known {
    generation: u64,
    state: NodeState,
    /// A `Joined` (or `Restarted`) was emitted for it.
    announced: bool,
}

fn node_state(s: State) -> NodeState {
    match s {
        State::Alive => NodeState::Alive,
        State::Suspect => NodeState::Suspect,
        State::Down => NodeState::Dead,
    }
}

/// A foca member as a [`ClusterMember<u64>`] (see the module docs).
pub struct FocaMember {
    foca: Foca<FocaId, FocaCodec, FocaRng, NoCustomBroadcast>,
    rt: Rt,
    tap: Arc<Mutex<Tap>>,
    me: Member<u64>,
    now: Timestamp,
    known: BTreeMap<u64, Known>,
    events: VecDeque<ClusterEvent<u64>>,
    max_packet: usize,
    max_members: usize,
    /// The incarnation this member last sent, with the identity it sent it as.
    sent: Option<(FocaId, u16)>,
}

impl FocaMember {
    /// foca's LAN preset for a cluster of `n` members (`Config::new_lan`, foca
    /// 2.0.0 src/config.rs, after memberlist's `DefaultLANConfig`): probe every
    /// 1 s, ack timeout 500 ms, 3 indirect probes, Down `max(1, log10 n) * 4 s`
    /// after the prober's suspicion, updates sent `4 log10(n + 1)` times,
    /// gossip every 200 ms to 3, announce every 30 s (to 1) and to Down members
    /// every 65 s (to 2), Down members forgotten after 24 h, packets of at most
    /// 1,400 bytes. A crash is declared Down from `1 s + Down delay` after it
    /// (the unanswered probe's period, then the suspicion), at the latest when
    /// some member's shuffled round-robin reaches it (2 (n - 1) periods), plus
    /// gossip: 5 to 15 s at n = 5 (observed 5.0 to 6.0 s).
    pub fn lan(id: u64, generation: u64, n: u32, seed: u64) -> Self {
        let config = Config::new_lan(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN));
        Self::build(Member::new(id, generation), config, seed)
    }

    /// foca's WAN preset (`Config::new_wan`, foca 2.0.0 src/config.rs, after
    /// memberlist's `DefaultWANConfig`): probe every 5 s, ack timeout 3 s, Down
    /// `max(1, log10 n) * 6 * 5 s` after the suspicion, gossip every 500 ms to
    /// 4, announce every 60 s (to 2), to Down members every 125 s (to 3). A
    /// crash is declared Down 35 to 80 s after it at n = 5 (observed 35.0 s).
    pub fn wan(id: u64, generation: u64, n: u32, seed: u64) -> Self {
        let config = Config::new_wan(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN));
        Self::build(Member::new(id, generation), config, seed)
    }

    /// A member with any foca `config`.
    ///
    /// # Errors
    /// [`ConfigError`] naming the field when a duration foca requires positive
    /// is zero (`probe_period`, `probe_rtt`, `suspect_to_down_after`, a periodic
    /// `frequency`), `probe_rtt >= probe_period`, or `max_packet_size` is below
    /// [`MIN_PACKET_SIZE`].
    pub fn with_config(me: Member<u64>, config: Config, seed: u64) -> Result<Self, ConfigError> {
        let positive = [
            ("probe_period", Some(config.probe_period)),
            ("probe_rtt", Some(config.probe_rtt)),
            ("suspect_to_down_after", Some(config.suspect_to_down_after)),
            ("remove_down_after", config.remove_down_after),
            (
                "periodic_announce",
                config.periodic_announce.as_ref().map(|p| p.frequency),
            ),
            (
                "periodic_announce_to_down_members",
                config
                    .periodic_announce_to_down_members
                    .as_ref()
                    .map(|p| p.frequency),
            ),
            (
                "periodic_gossip",
                config.periodic_gossip.as_ref().map(|p| p.frequency),
            ),
        ];
        for (field, d) in positive {
            if d == Some(Duration::ZERO) {
                return Err(ConfigError::NotPositive { field });
            }
        }
        if config.probe_rtt >= config.probe_period {
            return Err(ConfigError::OutOfRange {
                field: "probe_rtt",
                allowed: "below probe_period",
            });
        }
        if config.max_packet_size.get() < MIN_PACKET_SIZE {
            return Err(ConfigError::OutOfRange {
                field: "max_packet_size",
                allowed: "at least 128 bytes",
            });
        }
        Ok(Self::build(me, config, seed))
    }

    fn build(me: Member<u64>, config: Config, seed: u64) -> Self {
        let tap = Arc::new(Mutex::new(Tap::default()));
        let codec = FocaCodec {
            tap: Arc::clone(&tap),
            scratch: Vec::new(),
        };
        let max_packet = config.max_packet_size.get();
        let identity = FocaId {
            id: me.id,
            generation: me.generation,
        };
        FocaMember {
            foca: Foca::new(identity, config, FocaRng(SeededRng::new(seed)), codec),
            rt: Rt {
                now: Timestamp::ZERO,
                seq: 0,
                timers: BTreeMap::new(),
                out: VecDeque::new(),
                dirty: false,
                stats: FocaStats::default(),
            },
            tap,
            me,
            now: Timestamp::ZERO,
            known: BTreeMap::new(),
            events: VecDeque::new(),
            max_packet,
            max_members: DEFAULT_MAX_MEMBERS,
            sent: None,
        }
    }

    /// Bounds the members (known and Down) this member keeps (default
    /// [`DEFAULT_MAX_MEMBERS`]; at least 1): a datagram that would make it know
    /// more is refused whole.
    pub fn with_max_members(mut self, max: usize) -> Self {
        self.max_members = max.max(1);
        self
    }

    /// The foca instance, to inspect.
    pub fn foca(&self) -> &Foca<FocaId, FocaCodec, FocaRng, NoCustomBroadcast> {
        &self.foca
    }

    /// What this member counted.
    pub fn stats(&self) -> FocaStats {
        self.rt.stats
    }

    /// Timers pending.
    pub fn timers(&self) -> usize {
        self.rt.timers.len()
    }

    /// Whether the adapter's view ([`members`](ClusterMember::members)) is
    /// exactly foca's member list (for tests).
    pub fn view_matches_foca(&self) -> bool {
        let mut theirs: Vec<(u64, u64, NodeState)> = self
            .foca
            .iter_membership_state()
            .filter(|m| m.id().id != self.me.id)
            .map(|m| (m.id().id, m.id().generation, node_state(m.state())))
            .collect();
        theirs.sort_unstable_by_key(|t| t.0);
        let ours: Vec<(u64, u64, NodeState)> = self
            .known
            .iter()
            .map(|(&id, k)| (id, k.generation, k.state))
            .collect();
        theirs == ours
    }

    fn advance(&mut self, now: Timestamp) {
        self.now = self.now.max(now);
        self.rt.now = self.now;
    }

    /// Checks a datagram in full before foca sees it.
    fn check(&self, from: u64, bytes: &[u8]) -> Result<(), DecodeError> {
        if bytes.len() > self.max_packet {
            let mtu = self.max_packet;
            return Err(Reader::error_at(mtu, DecodeErrorKind::TooLong { mtu }));
        }
        let mut r = Reader::new(bytes);
        let (header, tag_at) = read_header(&mut r)?;
        // The sender's id follows the magic byte.
        if header.src.id != from {
            return Err(Reader::error_at(1, DecodeErrorKind::WrongSender));
        }
        let identity = self.foca.identity();
        if header.src.id == identity.id {
            return Err(Reader::error_at(
                1,
                DecodeErrorKind::OutOfRange {
                    what: "sender (this member's own id)",
                },
            ));
        }
        let about_me = match &header.message {
            Message::PingReq { target: x, .. }
            | Message::IndirectPing { origin: x, .. }
            | Message::IndirectAck { target: x, .. }
            | Message::ForwardedAck { origin: x, .. } => x == identity,
            _ => false,
        };
        if about_me {
            return Err(Reader::error_at(
                tag_at + 1,
                DecodeErrorKind::OutOfRange {
                    what: "indirect probe of this member itself",
                },
            ));
        }
        let mut fresh = BTreeSet::new();
        if !self.known.contains_key(&header.src.id) {
            fresh.insert(header.src.id);
        }
        if self.known.len() + fresh.len() > self.max_members {
            return Err(Reader::error_at(
                1,
                DecodeErrorKind::OutOfRange {
                    what: "member count",
                },
            ));
        }
        if r.remaining() == 0 {
            return Ok(());
        }
        // foca reads updates after any header but these; then custom
        // broadcasts, which this adapter has disabled: nothing may follow.
        if r.remaining() == 1 || matches!(header.message, Message::Announce | Message::Broadcast) {
            return Err(r.error(DecodeErrorKind::TrailingBytes));
        }
        let count = u16::from_be_bytes(r.array()?);
        for _ in 0..count {
            let at = r.offset();
            let m = read_member(&mut r)?;
            if m.id().id != identity.id && !self.known.contains_key(&m.id().id) {
                fresh.insert(m.id().id);
                if self.known.len() + fresh.len() > self.max_members {
                    return Err(Reader::error_at(
                        at,
                        DecodeErrorKind::OutOfRange {
                            what: "member count",
                        },
                    ));
                }
            }
        }
        r.finish()
    }

    /// After every input: own incarnation and identity, then the member list
    /// if anything may have changed in it.
    fn settle(&mut self) {
        let (dirty, sent) = {
            let mut tap = self.tap.lock().unwrap_or_else(PoisonError::into_inner);
            (std::mem::take(&mut tap.dirty), tap.sent)
        };
        let identity = *self.foca.identity();
        if identity.generation != self.me.generation {
            self.me = identity.member();
        }
        if let Some((id, incarnation)) = sent
            && id == identity
        {
            if let Some((last_id, last)) = self.sent
                && last_id == id
                && incarnation > last
            {
                self.events.push_back(ClusterEvent::Refuted {
                    incarnation: u64::from(incarnation),
                    at: self.now,
                });
            }
            self.sent = Some((id, incarnation));
        }
        if dirty || std::mem::take(&mut self.rt.dirty) {
            self.rescan();
        }
    }

    /// Compares foca's member list with the adapter's copy and emits the
    /// differences as events, in id order.
    fn rescan(&mut self) {
        let mine = self.foca.identity().id;
        let mut theirs: Vec<(u64, u64, NodeState)> = self
            .foca
            .iter_membership_state()
            .filter(|m| m.id().id != mine)
            .map(|m| (m.id().id, m.id().generation, node_state(m.state())))
            .collect();
        theirs.sort_unstable_by_key(|t| t.0);
        let old = std::mem::take(&mut self.known);
        let mut old = old.into_iter().peekable();
        let mut new = theirs.into_iter().peekable();
        let mut known = BTreeMap::new();
        loop {
            let (before, after) = match (old.peek(), new.peek()) {
                (None, None) => break,
                (Some(&(a, _)), Some(&(b, _, _))) if a == b => (old.next(), new.next()),
                (Some(&(a, _)), Some(&(b, _, _))) if a < b => (old.next(), None),
                (Some(_), None) => (old.next(), None),
                _ => (None, new.next()),
            };
            let id = match (&before, &after) {
                (Some((id, _)), _) | (None, Some((id, _, _))) => *id,
                (None, None) => break,
            };
            let before = before.map(|(_, k)| k);
            let after = after.map(|(_, g, s)| (g, s));
            if let Some(k) = self.diff(id, before, after) {
                known.insert(id, k);
            }
        }
        self.known = known;
    }

    fn joined(&mut self, member: Member<u64>, state: NodeState) -> Known {
        let at = self.now;
        if state == NodeState::Dead {
            return Known {
                generation: member.generation,
                state,
                announced: false,
            };
        }
        self.events.push_back(ClusterEvent::Joined {
            member: member.clone(),
            at,
        });
        self.changed(member.clone(), NodeState::Alive, state);
        Known {
            generation: member.generation,
            state,
            announced: true,
        }
    }

    fn changed(&mut self, member: Member<u64>, from: NodeState, to: NodeState) {
        if from != to {
            self.events.push_back(ClusterEvent::Changed {
                member,
                from,
                to,
                at: self.now,
            });
        }
    }

    fn diff(
        &mut self,
        id: u64,
        before: Option<Known>,
        after: Option<(u64, NodeState)>,
    ) -> Option<Known> {
        let at = self.now;
        match (before, after) {
            (None, None) => None,
            (None, Some((g, s))) => Some(self.joined(Member::new(id, g), s)),
            (Some(k), None) => {
                if k.announced {
                    self.events.push_back(ClusterEvent::Removed {
                        member: Member::new(id, k.generation),
                        at,
                    });
                }
                None
            }
            (Some(k), Some((g, s))) if g != k.generation => {
                if !k.announced {
                    return Some(self.joined(Member::new(id, g), s));
                }
                let member = Member::new(id, g);
                self.events.push_back(ClusterEvent::Restarted {
                    member: member.clone(),
                    previous_generation: k.generation,
                    at,
                });
                self.changed(member, NodeState::Alive, s);
                Some(Known {
                    generation: g,
                    state: s,
                    announced: true,
                })
            }
            (Some(k), Some((g, s))) => {
                if !k.announced {
                    return Some(self.joined(Member::new(id, g), s));
                }
                self.changed(Member::new(id, g), k.state, s);
                Some(Known { state: s, ..k })
            }
        }
    }
}

impl ClusterMember<u64> for FocaMember {
    fn me(&self) -> &Member<u64> {
        &self.me
    }

    /// Sends foca's `Announce` to each seed, addressed to its id at generation
    /// 0 (foca accepts an announce for any identity of its id).
    fn join(&mut self, seeds: &[u64], now: Timestamp) {
        self.advance(now);
        let mine = self.foca.identity().id;
        for &seed in seeds.iter().take(MAX_SEEDS).filter(|&&s| s != mine) {
            let dst = FocaId {
                id: seed,
                generation: 0,
            };
            if self.foca.announce(dst, &mut self.rt).is_err() {
                self.rt.stats.foca_errors += 1;
            }
        }
        self.settle();
    }

    fn handle_datagram(
        &mut self,
        from: &u64,
        bytes: &[u8],
        now: Timestamp,
    ) -> Result<(), DecodeError> {
        self.advance(now);
        if let Err(e) = self.check(*from, bytes) {
            self.rt.stats.refused += 1;
            return Err(e);
        }
        let result = self.foca.handle_data(bytes, &mut self.rt);
        self.settle();
        match result {
            Ok(()) => Ok(()),
            Err(
                foca::Error::Decode(_)
                | foca::Error::MalformedPacket
                | foca::Error::DataTooBig
                | foca::Error::DataFromOurselves
                | foca::Error::IndirectForOurselves
                | foca::Error::CustomBroadcast(_),
            ) => {
                // Unreachable after `check`; kept as a refusal if foca changes.
                self.rt.stats.refused += 1;
                Err(Reader::error_at(
                    0,
                    DecodeErrorKind::OutOfRange {
                        what: "foca refused the datagram",
                    },
                ))
            }
            Err(_) => {
                self.rt.stats.foca_errors += 1;
                Ok(())
            }
        }
    }

    fn tick(&mut self, now: Timestamp) {
        self.advance(now);
        let last = self.rt.seq;
        loop {
            let due = match self.rt.timers.first_key_value() {
                Some((&(at, seq), _)) if at <= self.now && seq <= last => (at, seq),
                _ => break,
            };
            let Some(timer) = self.rt.timers.remove(&due) else {
                break;
            };
            if matches!(timer, Timer::RemoveDown(_)) {
                self.rt.dirty = true;
            }
            if self.foca.handle_timer(timer, &mut self.rt).is_err() {
                self.rt.stats.foca_errors += 1;
            }
        }
        self.settle();
    }

    fn next_deadline(&self) -> Option<Timestamp> {
        self.rt.timers.first_key_value().map(|(&(at, _), _)| at)
    }

    fn poll_datagram(&mut self) -> Option<Datagram<u64>> {
        self.rt.out.pop_front()
    }

    fn poll_event(&mut self) -> Option<ClusterEvent<u64>> {
        self.events.pop_front()
    }

    fn state_of(&self, id: &u64) -> Option<NodeState> {
        self.known.get(id).map(|k| k.state)
    }

    fn members(&self) -> Vec<(Member<u64>, NodeState)> {
        self.known
            .iter()
            .map(|(&id, k)| (Member::new(id, k.generation), k.state))
            .collect()
    }
}
