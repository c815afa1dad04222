//! The Rust client against Apache RocketMQ's own namesrv and broker (4.9.7 jars from Maven
//! Central, run inside a private network namespace so they see only loopback): the producer
//! (sync, oneway, batches) and a push consumer round trip through them. Skipped, saying so,
//! only when Java is absent.

use std::path::{Path, PathBuf};
use std::process::Command;

use integration::TempDir;

fn probe_path() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let path = profile.join("examples").join("interop_probe");
    assert!(
        path.exists(),
        "{} is missing: `cargo build --workspace --bins --examples` (make test does it)",
        path.display()
    );
    path
}

fn apache_jars() -> PathBuf {
    let project = Path::new(env!("CARGO_MANIFEST_DIR")).join("java-servers");
    let status = Command::new("mvn")
        .args(["-q", "-B", "package"])
        .current_dir(&project)
        .status()
        .expect("run mvn");
    assert!(
        status.success(),
        "fetching Apache RocketMQ's servers failed: {status}"
    );
    project
}

#[test]
fn the_rust_client_round_trips_through_apache_rocketmq() {
    if Command::new("java").arg("-version").output().is_err() {
        eprintln!("SKIPPED: no java on this machine to run Apache RocketMQ's servers");
        return;
    }
    apache_jars();
    let work = TempDir::new("apache");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/apache-servers.sh");
    let output = Command::new("unshare")
        .args(["--net", "--map-root-user"])
        .arg(&script)
        .arg(work.path())
        .args(["sh", "-c", "exec \"$0\" \"$NAMESRV\" InteropTopic 2000"])
        .arg(probe_path())
        .output()
        .expect("run unshare");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.lines().any(|l| l == "SENT 2000"), "{stdout}");
    let consumed = stdout
        .lines()
        .find(|l| l.starts_with("CONSUMED "))
        .expect("CONSUMED line");
    eprintln!("{consumed}");
    assert!(consumed.starts_with("CONSUMED 2000 "), "{stdout}");
    assert!(!stdout.contains("MISSING"), "{stdout}");
}
