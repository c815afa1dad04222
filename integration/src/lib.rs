//! Test support for end-to-end tests: the project's binaries started on ephemeral loopback
//! ports in temporary directories and killed when dropped, and a blocking raw-frame client.
//!
//! Servers are started with port 0 and report the address they bound on their first stdout
//! line (`<name> listening on <addr>`), so no test ever races another for a port.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use wire::{FrameDecoder, RemotingCommand};

/// The path of a workspace binary next to the running test executable
/// (`target/<profile>/deps/<test>` -> `target/<profile>/<name>`).
pub fn binary_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let path = profile_dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the workspace binaries first (`cargo build --workspace --bins`, \
         which `make test` does)",
        path.display()
    );
    path
}

/// A directory under the system temp dir, removed on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let unique = COUNTER.fetch_add(1, Ordering::SeqCst);
        let path =
            std::env::temp_dir().join(format!("rmq-it-{label}-{}-{unique}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A child process killed (SIGKILL) and reaped on drop.
pub struct Process {
    child: Child,
}

impl Process {
    /// Takes ownership of a started child: from here it is killed and reaped on drop.
    pub fn new(child: Child) -> Process {
        Process { child }
    }

    /// The child's stdout, when it was piped and not taken yet.
    pub fn take_stdout(&mut self) -> Option<std::process::ChildStdout> {
        self.child.stdout.take()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (e.g. `libc::SIGTERM`).
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, signal);
        }
    }

    /// Waits up to `timeout` for the process to exit; returns its exit status if it did.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.is_running() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Starts `binary` with `args`, waits (up to 20 s) for its `listening on <addr>` line and
/// returns the process with the address. Later stdout lines are drained in the background;
/// stderr (the log) goes to `<log_dir>/<name>.log`.
pub fn spawn_server(
    binary: &str,
    args: &[&str],
    log_dir: &Path,
    envs: &[(&str, &str)],
) -> (Process, SocketAddr) {
    let mut command = Command::new(binary_path(binary));
    command.args(args);
    for (key, value) in envs {
        command.env(key, value);
    }
    spawn_and_wait(binary, command, log_dir)
}

/// As [`spawn_server`], with the child's open-file limit (soft and hard) set to `nofile`.
pub fn spawn_server_with_fd_limit(
    binary: &str,
    args: &[&str],
    log_dir: &Path,
    nofile: u64,
) -> (Process, SocketAddr) {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(binary_path(binary));
    command.args(args);
    let limit = libc::rlimit {
        rlim_cur: nofile,
        rlim_max: nofile,
    };
    // SAFETY: setrlimit is async-signal-safe and touches only the child's own limits, which is
    // all a pre_exec closure may do between fork and exec.
    unsafe {
        command.pre_exec(move || {
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        });
    }
    spawn_and_wait(binary, command, log_dir)
}

fn spawn_and_wait(binary: &str, mut command: Command, log_dir: &Path) -> (Process, SocketAddr) {
    let log_path = log_dir.join(format!("{binary}.log"));
    let log = std::fs::File::create(&log_path).expect("create log file");
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log);
    if std::env::var_os("RUST_LOG").is_none() {
        command.env("RUST_LOG", "info");
    }
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {binary}: {e}"));
    let stdout = child.stdout.take().expect("piped stdout");
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = sender.send(line);
        }
    });
    let process = Process { child };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match receiver.recv_timeout(left) {
            Ok(line) => {
                if let Some(addr) = line.split("listening on ").nth(1) {
                    let addr = addr.trim().parse().expect("listening address");
                    // Keep draining stdout so the child never blocks on a full pipe.
                    std::thread::spawn(move || for _ in receiver {});
                    return (process, addr);
                }
            }
            Err(_) => {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                panic!("{binary} did not report its address within 20 s; log:\n{log}");
            }
        }
    }
}

/// A blocking client speaking raw frames, with a read deadline on every call.
pub struct RawClient {
    stream: TcpStream,
    buffer: Vec<u8>,
    decoder: FrameDecoder,
    next_opaque: i32,
}

impl RawClient {
    pub fn connect(addr: SocketAddr) -> io::Result<RawClient> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_nodelay(true)?;
        Ok(RawClient {
            stream,
            buffer: Vec::new(),
            decoder: FrameDecoder::default(),
            next_opaque: 1,
        })
    }

    pub fn stream(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    pub fn send_bytes(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Sends `request` with a fresh opaque and returns that opaque.
    pub fn send(&mut self, request: &mut RemotingCommand) -> io::Result<i32> {
        request.opaque = self.next_opaque;
        self.next_opaque += 1;
        let frame = request
            .to_frame()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        self.stream.write_all(&frame)?;
        Ok(request.opaque)
    }

    /// Reads the next frame, waiting at most `timeout`.
    pub fn receive(&mut self, timeout: Duration) -> io::Result<RemotingCommand> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some((command, size)) = self
                .decoder
                .decode(&self.buffer)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?
            {
                self.buffer.drain(..size);
                return Ok(command);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no frame before deadline",
                ));
            }
            self.stream.set_read_timeout(Some(left))?;
            let mut chunk = [0u8; 64 * 1024];
            let read = self.stream.read(&mut chunk)?;
            if read == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "peer closed"));
            }
            self.buffer.extend_from_slice(&chunk[..read]);
        }
    }

    /// Sends `request` and waits for the response with the same opaque.
    pub fn call(&mut self, mut request: RemotingCommand) -> io::Result<RemotingCommand> {
        let opaque = self.send(&mut request)?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let response = self.receive(left)?;
            if response.is_response() && response.opaque == opaque {
                return Ok(response);
            }
        }
    }

    /// True once the server has closed the connection (EOF or reset) within `timeout`.
    pub fn is_closed_by_peer(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut chunk = [0u8; 4096];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            if self.stream.set_read_timeout(Some(left)).is_err() {
                return true;
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return false
                }
                Err(_) => return true,
            }
        }
    }
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Raises this process's open-file soft limit to at least `wanted` (capped at the hard limit),
/// for tests that hold many sockets.
pub fn raise_fd_limit(wanted: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < wanted {
            limit.rlim_cur = wanted.min(limit.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// Builds the Java interop probes (`integration/java`, the official RocketMQ client from Maven
/// Central) once per test process and returns the classpath to run them with. Fails the test
/// with the reason when Java or Maven is missing: `.ci/run` installs both.
pub fn java_probes_classpath() -> String {
    static BUILT: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
    let mut built = BUILT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(classpath) = built.as_ref() {
        return classpath.clone();
    }
    let project = Path::new(env!("CARGO_MANIFEST_DIR")).join("java");
    let status = Command::new("mvn")
        .args(["-q", "-B", "package"])
        .current_dir(&project)
        .status()
        .unwrap_or_else(|e| panic!("cannot run mvn (install Maven and a JDK): {e}"));
    assert!(
        status.success(),
        "building the Java interop probes failed: {status}"
    );
    let target = project.join("target");
    let classpath = format!(
        "{}:{}/*",
        target.join("classes").display(),
        target.join("dependency").display()
    );
    *built = Some(classpath.clone());
    classpath
}

/// Runs a Java probe class with `args` and JVM `properties` (`-Dk=v`), bounded by `timeout`;
/// returns its stdout. Panics with stdout and stderr if it fails or times out.
pub fn run_java_probe(
    class: &str,
    args: &[&str],
    properties: &[&str],
    timeout: Duration,
) -> String {
    let classpath = java_probes_classpath();
    let mut command = Command::new("java");
    command
        .arg("-cp")
        .arg(&classpath)
        .arg("-Drocketmq.client.logUseSlf4j=false");
    command.arg("-Xmx256m");
    for property in properties {
        command.arg(property);
    }
    command
        .arg(class)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run java: {e}"));
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let output = child.wait_with_output().expect("java output");
            panic!(
                "{class} timed out\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().expect("java output");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{class} failed: {}\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Starts a namesrv bound to 127.0.0.1 on an ephemeral port, its KV file and log in `dir`;
/// `extra_config` is appended to its properties file.
pub fn spawn_namesrv(dir: &Path, extra_config: &str) -> (Process, SocketAddr) {
    let config_path = dir.join("namesrv.properties");
    let kv_path = dir.join("kvConfig.json");
    let config = format!(
        "listenPort=0\nbindAddress=127.0.0.1\nkvConfigPath={}\n{extra_config}\n",
        kv_path.display()
    );
    std::fs::write(&config_path, config).expect("write namesrv.properties");
    let config_arg = config_path.display().to_string();
    spawn_server("namesrv", &["-c", &config_arg], dir, &[])
}

/// Starts a broker on an ephemeral loopback port, its store under `<dir>/store`, its
/// `broker.conf` and log in `dir`, registering with `namesrv`; `extra_config` is appended to
/// the config (later keys win).
pub fn spawn_broker(dir: &Path, namesrv: SocketAddr, extra_config: &str) -> (Process, SocketAddr) {
    let config_path = dir.join("broker.conf");
    let config = format!(
        "brokerClusterName=TestCluster\nbrokerName=broker-a\nbrokerId=0\nlistenPort=0\nhaListenPort=0\n\
         brokerIP1=127.0.0.1\nbrokerIP2=127.0.0.1\nnamesrvAddr={namesrv}\n\
         storePathRootDir={}\nmappedFileSizeCommitLog=8388608\nflushDiskType=ASYNC_FLUSH\n\
         maxHashSlotNum=50000\nmaxIndexNum=200000\njournalDir={}\n\
         {extra_config}\n",
        dir.join("store").display(),
        // In the test's directory: the default (/dev/shm) would outlive a killed test broker.
        dir.join("journal").display()
    );
    std::fs::write(&config_path, config).expect("write broker.conf");
    let config_arg = config_path.display().to_string();
    spawn_server("broker", &["-c", &config_arg], dir, &[])
}

/// Builds the Go interop probe (`integration/go`, rocketmq-client-go from the Go module proxy)
/// once per test process and returns the binary's path. Fails the test with the reason when Go
/// is missing: `.ci/run` installs it.
pub fn go_probe_path() -> PathBuf {
    static BUILT: std::sync::Mutex<Option<PathBuf>> = std::sync::Mutex::new(None);
    let mut built = BUILT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(path) = built.as_ref() {
        return path.clone();
    }
    let project = Path::new(env!("CARGO_MANIFEST_DIR")).join("go");
    let output = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|deps| deps.join("go-probe")))
        .unwrap_or_else(|| std::env::temp_dir().join("go-probe"));
    let status = Command::new("go")
        .args(["build", "-o"])
        .arg(&output)
        .arg("./probe")
        .current_dir(&project)
        .status()
        .unwrap_or_else(|e| panic!("cannot run go (install Go): {e}"));
    assert!(
        status.success(),
        "building the Go interop probe failed: {status}"
    );
    *built = Some(output.clone());
    output
}
