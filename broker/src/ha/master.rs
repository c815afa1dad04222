//! The master's HA service: accepts slaves on `haListenPort`, agrees with each on the prefix
//! their logs share before streaming anything ([`super::session`]), and keeps the watermark
//! SYNC_MASTER sends wait for: the highest offset a verified slave holds.
//!
//! Epochs: every start of the master begins a new epoch at the end of its log
//! ([`crate::store::epochs`]), before any append. When the store may have lost what it had
//! appended (a crash without the journal: the machine went down) and a slave replicated the
//! last epoch, the master first waits (up to `haRecoveryWaitMills`) for that slave: if the
//! slave holds a valid continuation of the master's last epoch, the master takes those
//! records back, so an acknowledged message survives as long as either copy does. Only then,
//! or when the wait ends (availability first, logged loudly), does the new epoch begin and
//! sends get accepted; whatever a slave holds past the master's end of an old epoch is cut
//! from the slave by the epoch rule.
//!
//! Threads: an acceptor, a recovery timer while recovering, and per slave a session (this
//! module's caller of [`super::session::serve`]) and a report reader. They block on their own
//! sockets, never on the event loop; the loop learns of new acked offsets through the
//! callback (a loop message) and asks [`HaMaster::is_serving`] before it appends.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::store::MessageStore;

/// Called with every new acked offset, on an HA thread; must not block.
pub type AckListener = Arc<dyn Fn(u64) + Send + Sync>;

/// How long records appended by replication may take to reach the consume queues.
const ADOPT_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether the master accepts appends yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting until `deadline` for a slave to give back what the store may have lost.
    Recovering {
        deadline: Instant,
    },
    Serving,
}

pub(super) struct Shared {
    pub(super) acked_offset: AtomicU64,
    /// Slaves whose logs were verified to match (their reports count).
    pub(super) slaves: AtomicUsize,
    pub(super) stop: AtomicBool,
    pub(super) store: Arc<MessageStore>,
    /// `brokerName`: a slave of another broker group is refused.
    pub(super) broker_name: String,
    on_ack: AckListener,
    /// Held through a take-back, so the epoch begins once, after it.
    phase: Mutex<Phase>,
    serving: AtomicBool,
}

impl Shared {
    pub(super) fn phase(&self) -> MutexGuard<'_, Phase> {
        // Changed only by whole assignments: never left half-done.
        self.phase.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Begins the new epoch and accepts appends; `why` goes to the log. First whatever came
    /// in through replica appends (taken back, even partly) is dispatched, counted in every
    /// queue's next offset and flushed: the new epoch starts on durable bytes, and sends
    /// continue each queue.
    pub(super) fn begin_serving(&self, phase: &mut Phase, why: &str) -> io::Result<()> {
        let other = |e: crate::store::StoreError| io::Error::other(e.to_string());
        self.store.adopt_appended(ADOPT_TIMEOUT).map_err(other)?;
        self.store.flush_now().map_err(other)?;
        let epoch = self.store.begin_epoch().map_err(other)?;
        *phase = Phase::Serving;
        self.serving.store(true, Ordering::Release);
        log::info!(
            "HA: epoch {} begins at offset {} ({why})",
            epoch.epoch,
            epoch.start_offset
        );
        Ok(())
    }

    /// A verified slave holds everything below `offset`.
    pub(super) fn note_ack(&self, offset: u64) {
        let previous = self.acked_offset.fetch_max(offset, Ordering::AcqRel);
        if offset > previous {
            (self.on_ack)(offset);
        }
    }
}

pub struct HaMaster {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
}

impl HaMaster {
    /// Binds `address` and starts accepting slaves. With `recovery_wait`, appends wait until
    /// a slave gave back what the store may have lost, or the wait ends; without, the new
    /// epoch begins now.
    pub fn start(
        address: SocketAddr,
        store: Arc<MessageStore>,
        broker_name: &str,
        on_ack: AckListener,
        recovery_wait: Option<Duration>,
    ) -> io::Result<HaMaster> {
        let listener = TcpListener::bind(address)?;
        let local_addr = listener.local_addr()?;
        let deadline = Instant::now() + recovery_wait.unwrap_or_default();
        let shared = Arc::new(Shared {
            acked_offset: AtomicU64::new(0),
            slaves: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            store,
            broker_name: broker_name.to_string(),
            on_ack,
            phase: Mutex::new(Phase::Recovering { deadline }),
            serving: AtomicBool::new(false),
        });
        match recovery_wait {
            None => {
                let mut phase = shared.phase();
                shared.begin_serving(&mut phase, "master started")?;
            }
            Some(wait) => {
                // Durable first: a restart during the wait must wait again.
                shared
                    .store
                    .mark_epoch_recovering()
                    .map_err(|e| io::Error::other(e.to_string()))?;
                log::warn!(
                    "HA: this master may have lost what it appended before it went down; \
                     sends wait up to {} ms for its slave to give it back",
                    wait.as_millis()
                );
                let timer = shared.clone();
                std::thread::Builder::new()
                    .name("ha-recovery".into())
                    .spawn(move || end_recovery_at(&timer, deadline))?;
            }
        }
        let accepting = shared.clone();
        std::thread::Builder::new()
            .name("ha-accept".into())
            .spawn(move || accept(listener, accepting))?;
        log::info!("HA service listening on {local_addr}");
        Ok(HaMaster { shared, local_addr })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The highest offset a verified slave reported holding.
    pub fn slave_acked_offset(&self) -> u64 {
        self.shared.acked_offset.load(Ordering::Acquire)
    }

    /// Connected slaves whose logs were verified to match this one.
    pub fn slave_count(&self) -> usize {
        self.shared.slaves.load(Ordering::Acquire)
    }

    /// Whether appends are accepted: false while recovering.
    pub fn is_serving(&self) -> bool {
        self.shared.serving.load(Ordering::Acquire)
    }

    pub fn phase(&self) -> Phase {
        *self.shared.phase()
    }

    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::Release);
        // Wake the acceptor.
        let _ = TcpStream::connect_timeout(&self.local_addr, Duration::from_millis(200));
    }
}

impl Drop for HaMaster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The recovery timer: past the deadline, the new epoch begins without the slave (retried
/// every second should beginning it fail, e.g. dispatch stalled on a full disk).
fn end_recovery_at(shared: &Shared, deadline: Instant) {
    let mut logged = false;
    loop {
        let now = Instant::now();
        if shared.stop.load(Ordering::Acquire) {
            return;
        }
        if now < deadline {
            std::thread::sleep((deadline - now).min(Duration::from_millis(100)));
            continue;
        }
        let mut phase = shared.phase();
        if *phase == Phase::Serving {
            return;
        }
        if !logged {
            log::error!(
                "HA: no slave came back to give back what this master may have lost; serving \
                 without it. Whatever a slave holds past this log's end in the old epoch will \
                 be cut from it"
            );
            logged = true;
        }
        match shared.begin_serving(&mut phase, "recovery wait over") {
            Ok(()) => return,
            Err(error) => log::error!("HA: cannot begin a new epoch: {error}; retrying"),
        }
        drop(phase);
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn accept(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::Acquire) {
            return;
        }
        let stream = match stream {
            Ok(stream) => stream,
            Err(error) => {
                log::warn!("HA accept failed: {error}");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let serving = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("ha-slave".into())
            .spawn(move || {
                let peer = stream.peer_addr().ok();
                if let Err(error) = super::session::serve(stream, &serving) {
                    log::warn!("HA slave {peer:?} dropped: {error}");
                }
            });
        if let Err(error) = spawned {
            log::error!("cannot start an HA slave thread: {error}");
        }
    }
}
