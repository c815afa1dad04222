//! The processes of a chaos run: a namesrv, a master and (replicated) its slave, each a real
//! binary on loopback with its own directory, `broker.conf` and log, and the faults done to
//! them (SIGKILL, SIGSTOP/SIGCONT) and restarts on the same store and config.
//!
//! Owned by the main thread, which alone starts processes: each child asks for SIGKILL when
//! the thread that forked it dies (PR_SET_PDEATHSIG), so the brokers end with the run even when
//! the tool itself is killed, and [`Process`] kills them on drop (also on panic).
//!
//! Addresses. The master keeps fixed ports across restarts: the slave reaches it through
//! `haMasterAddress`, and the senders through one client address, immediately after a
//! restart; learning new ports from the namesrv instead would wait for the slave's next
//! registration (`registerNameServerPeriod`, at least 10 s). The ports are taken below the
//! kernel's ephemeral range (`ip_local_port_range`), so no `bind(0)` or outgoing connection on
//! the machine can be handed one while the master is down, and each is leased with an
//! `flock` on a file in the temp dir, so concurrent chaos runs never share one. A start whose
//! bind fails anyway is retried until the wait bound. The namesrv (never restarted) and the
//! slave (nobody dials it but the tool, which reads its new address) use port 0.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::io::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use integration::Process;

use crate::options::{Options, Role, Topology};

/// A port held for this run: nobody else running this tool takes it while the lock is held.
pub struct PortLease {
    pub port: u16,
    _lock: File,
}

/// Leases `count` consecutive free ports below the ephemeral range.
pub fn lease_ports(count: u16) -> Result<Vec<PortLease>, String> {
    let (low, high) = lease_range();
    let lock_dir = std::env::temp_dir().join("rmq-chaos-ports");
    std::fs::create_dir_all(&lock_dir).map_err(|e| format!("{}: {e}", lock_dir.display()))?;
    let mut state = u64::from(std::process::id()) ^ clock_nanos();
    for _ in 0..500 {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        let span = u64::from(high - low - count);
        let base = low + ((state >> 33) % span) as u16;
        let leases: Option<Vec<PortLease>> = (base..base + count)
            .map(|port| lease_port(&lock_dir, port))
            .collect();
        if let Some(leases) = leases {
            return Ok(leases);
        }
    }
    Err(format!("no {count} free ports in {low}..{high}"))
}

/// Ports no `bind(0)` or `connect` is given: below the ephemeral range (or above it when
/// the range starts too low to leave room).
fn lease_range() -> (u16, u16) {
    let text =
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default();
    let bounds: Vec<u16> = text
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    match bounds[..] {
        [low, _] if low >= 12_000 => (10_000, low),
        [_, high] if high <= 60_000 => (high + 1, 65_000),
        _ => (20_000, 30_000),
    }
}

fn lease_port(lock_dir: &Path, port: u16) -> Option<PortLease> {
    let path = lock_dir.join(format!("port-{port}.lock"));
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .ok()?;
    // SAFETY: flock(2) on a descriptor this File owns; no memory is shared with the kernel.
    let locked = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
    // Free right now on every address the broker may bind.
    let free = locked
        && TcpListener::bind(("127.0.0.1", port)).is_ok()
        && TcpListener::bind(("0.0.0.0", port)).is_ok();
    free.then_some(PortLease { port, _lock: lock })
}

fn clock_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// One server process and how to start it again: binary, config file, log (appended to
/// across restarts, so the final scan sees every incarnation).
pub struct Server {
    pub name: &'static str,
    binary: PathBuf,
    args: Vec<String>,
    pub log: PathBuf,
    process: Option<Process>,
    pub addr: Option<SocketAddr>,
    pub starts: u32,
}

impl Server {
    pub fn new(name: &'static str, binary: PathBuf, config: &Path, log: PathBuf) -> Server {
        Server {
            name,
            binary,
            args: vec!["-c".into(), config.display().to_string()],
            log,
            process: None,
            addr: None,
            starts: 0,
        }
    }

    /// Starts the process and waits for its `listening on` line; a start that fails because a
    /// port is still held is retried until `wait` has passed.
    pub fn start(&mut self, wait: Duration) -> Result<SocketAddr, String> {
        assert!(self.process.is_none(), "{} started twice", self.name);
        let deadline = Instant::now() + wait;
        loop {
            self.starts += 1;
            match self.start_once(deadline) {
                Ok(addr) => return Ok(addr),
                // Only a port still held is worth another try.
                Err(error) if Instant::now() >= deadline || !error.contains("in use") => {
                    return Err(format!("{} did not start: {error}", self.name))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(300)),
            }
        }
    }

    fn start_once(&mut self, deadline: Instant) -> Result<SocketAddr, String> {
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| format!("{}: {e}", self.log.display()))?;
        let _ = writeln!(log, "=== chaos: start {} of {} ===", self.starts, self.name);
        let mut command = Command::new(&self.binary);
        command
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log);
        if std::env::var_os("RUST_LOG").is_none() {
            command.env("RUST_LOG", "info");
        }
        // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe and changes only the child.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = command
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", self.binary.display()))?;
        let mut process = Process::new(child);
        let addr = wait_listening(&mut process, deadline);
        match addr {
            Ok(addr) => {
                self.process = Some(process);
                self.addr = Some(addr);
                Ok(addr)
            }
            Err(error) => Err(format!("{error}; log tail:\n{}", log_tail(&self.log, 8))),
        }
    }

    /// SIGKILL, then reaps it (bounded: a killed process is gone at once).
    pub fn kill(&mut self) -> Result<(), String> {
        let Some(mut process) = self.process.take() else {
            return Ok(());
        };
        self.addr = None;
        process.signal(libc::SIGKILL);
        match process.wait_timeout(Duration::from_secs(20)) {
            Some(_) => Ok(()),
            None => Err(format!("{} survived SIGKILL for 20 s", self.name)),
        }
    }

    pub fn signal(&self, signal: i32) {
        if let Some(process) = &self.process {
            process.signal(signal);
        }
    }

    /// False once the process has exited by itself (a crash).
    pub fn is_running(&mut self) -> bool {
        self.process.as_mut().is_some_and(Process::is_running)
    }
}

/// Reads the child's stdout until `listening on <addr>`, the child's exit, or the deadline.
fn wait_listening(process: &mut Process, deadline: Instant) -> Result<SocketAddr, String> {
    let stdout = process.take_stdout().ok_or("no stdout")?;
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = sender.send(line);
        }
    });
    loop {
        match receiver.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                if let Some(addr) = line.split("listening on ").nth(1) {
                    let addr = addr
                        .trim()
                        .parse()
                        .map_err(|_| format!("bad line {line:?}"))?;
                    // Keep draining so the child never blocks on a full pipe.
                    std::thread::spawn(move || for _ in receiver {});
                    return Ok(addr);
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) if !process.is_running() => {
                return Err("exited before listening".into())
            }
            Err(_) => {}
        }
        if Instant::now() >= deadline {
            return Err("no `listening on` line in time".into());
        }
    }
}

/// The last `lines` lines of a log, for error messages.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The processes of one run and the master's fixed address.
pub struct Cluster {
    pub namesrv: Server,
    pub master: Server,
    pub slave: Option<Server>,
    pub master_addr: SocketAddr,
    /// The master's `storePathRootDir`.
    pub master_store: PathBuf,
    /// The brokers' crash journals (`journalDir`): on /dev/shm, as in production, in a
    /// directory of this run's, removed with the cluster.
    journals: JournalDirs,
    _leases: Vec<PortLease>,
}

/// Where the brokers keep their crash journals; removed on drop (the brokers are killed, so
/// nothing else would remove them).
struct JournalDirs {
    root: PathBuf,
}

impl JournalDirs {
    fn create() -> Result<JournalDirs, String> {
        let base = Path::new("/dev/shm");
        let base = if base.is_dir() {
            base.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let root = base.join(format!(
            "rmq-chaos-{}-{}",
            std::process::id(),
            clock_nanos()
        ));
        make_dir(&root.join("master"))?;
        make_dir(&root.join("slave"))?;
        Ok(JournalDirs { root })
    }

    fn of(&self, broker: &str) -> PathBuf {
        self.root.join(broker)
    }
}

impl Drop for JournalDirs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

impl Cluster {
    /// Writes the configs under `dir` and starts every process.
    pub fn start(options: &Options, dir: &Path) -> Result<Cluster, String> {
        for name in ["namesrv", "broker"] {
            let path = options.bin_dir.join(name);
            if !path.exists() {
                return Err(format!(
                    "{} is missing: build the binaries first (cargo build --workspace --bins)",
                    path.display()
                ));
            }
        }
        let leases = lease_ports(4)?;
        // listenPort - 2 is the broker's VIP port: leased too, so it binds as well.
        let (listen_port, ha_port) = (leases[2].port, leases[3].port);
        let namesrv_dir = make_dir(&dir.join("namesrv"))?;
        let namesrv_config = namesrv_dir.join("namesrv.properties");
        let kv = namesrv_dir.join("kvConfig.json");
        let text = format!(
            "listenPort=0\nbindAddress=127.0.0.1\nkvConfigPath={}\n",
            kv.display()
        );
        write(&namesrv_config, &text)?;
        let mut namesrv = Server::new(
            "namesrv",
            options.bin_dir.join("namesrv"),
            &namesrv_config,
            namesrv_dir.join("namesrv.log"),
        );
        let namesrv_addr = namesrv.start(options.wait)?;
        let role = match (options.topology, options.role) {
            (Topology::Single, _) | (_, Role::AsyncMaster) => "ASYNC_MASTER",
            (Topology::Replicated, Role::SyncMaster) => "SYNC_MASTER",
        };
        let journals = JournalDirs::create()?;
        let master_dir = make_dir(&dir.join("master"))?;
        let extra = format!(
            "brokerId=0\nbrokerRole={role}\nhaListenPort={ha_port}\njournalDir={}\n",
            journals.of("master").display()
        );
        let config = broker_config(options, &master_dir, namesrv_addr, listen_port, &extra);
        let mut master = broker_server(options, "master", &master_dir, &config)?;
        let master_addr = master.start(options.wait)?;
        let slave = match options.topology {
            Topology::Single => None,
            Topology::Replicated => {
                let slave_dir = make_dir(&dir.join("slave"))?;
                let extra = format!(
                    "brokerId=1\nbrokerRole=SLAVE\nhaListenPort=0\n\
                     haMasterAddress=127.0.0.1:{ha_port}\njournalDir={}\n",
                    journals.of("slave").display()
                );
                let config = broker_config(options, &slave_dir, namesrv_addr, 0, &extra);
                let mut slave = broker_server(options, "slave", &slave_dir, &config)?;
                slave.start(options.wait)?;
                Some(slave)
            }
        };
        Ok(Cluster {
            namesrv,
            master,
            slave,
            master_addr,
            master_store: master_dir.join("store"),
            journals,
            _leases: leases,
        })
    }

    /// What a machine crash takes besides the process: the master's crash journal (tmpfs).
    /// Call while the master is down.
    pub fn lose_master_journal(&self) -> Result<(), String> {
        let dir = self.journals.of("master");
        for entry in std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
            let path = entry.map_err(|e| e.to_string())?.path();
            std::fs::remove_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        Ok(())
    }

    pub fn slave_addr(&self) -> Option<SocketAddr> {
        self.slave.as_ref().and_then(|slave| slave.addr)
    }

    /// Whether the slave's current incarnation has given up replicating (it logs why): then
    /// no wait for it can succeed, and waiting out the bound would only delay the report.
    pub fn slave_gave_up(&self) -> bool {
        let Some(slave) = &self.slave else {
            return false;
        };
        let log = std::fs::read_to_string(&slave.log).unwrap_or_default();
        let current = log.rsplit("=== chaos: start").next().unwrap_or("");
        current
            .lines()
            .any(|line| line.contains("HA replication from") && line.contains("stopped"))
    }

    /// Every log of the run, for the final scan.
    pub fn logs(&self) -> Vec<&Path> {
        let mut logs = vec![self.namesrv.log.as_path(), self.master.log.as_path()];
        if let Some(slave) = &self.slave {
            logs.push(slave.log.as_path());
        }
        logs
    }
}

/// A broker.conf: small segments and consume-queue files so runs cross their ends, index
/// files small, topics created only by the tool (a lost topic config shows as an error rather
/// than being created again with other queue counts).
fn broker_config(
    options: &Options,
    dir: &Path,
    namesrv: SocketAddr,
    listen_port: u16,
    extra: &str,
) -> String {
    format!(
        "brokerClusterName=ChaosCluster\nbrokerName=broker-chaos\nlistenPort={listen_port}\n\
         brokerIP1=127.0.0.1\nbrokerIP2=127.0.0.1\nnamesrvAddr={namesrv}\n\
         storePathRootDir={}\nmappedFileSizeCommitLog={}\nmappedFileSizeConsumeQueue=20000\n\
         flushDiskType={}\nmaxMessageSize=65536\nautoCreateTopicEnable=false\nslaveTimeout=3000\n\
         maxHashSlotNum=50000\nmaxIndexNum=200000\n{extra}",
        dir.join("store").display(),
        options.segment_size,
        options.flush.config_value(),
    )
}

/// A broker with its `broker.conf` written in `dir`, not started yet.
fn broker_server(
    options: &Options,
    name: &'static str,
    dir: &Path,
    config: &str,
) -> Result<Server, String> {
    let config_path = dir.join("broker.conf");
    write(&config_path, config)?;
    let binary = options.bin_dir.join("broker");
    Ok(Server::new(
        name,
        binary,
        &config_path,
        dir.join("broker.log"),
    ))
}

fn make_dir(path: &Path) -> Result<PathBuf, String> {
    std::fs::create_dir_all(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path.to_path_buf())
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}
