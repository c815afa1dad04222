//! Apache RocketMQ's own admin tool, `mqadmin` (rocketmq-tools 4.9.8 from Maven Central, main
//! class `MQAdminStartup`), against our namesrv and broker: `clusterList`, `brokerStatus`,
//! `topicList`, `topicRoute`, `topicStatus`, `consumerProgress` (one group, every group while
//! its consumer is online, and with client IPs), `consumerStatus`, `brokerConsumeStats`,
//! `statsAll` and `updateTopic`, each checked for the cluster and broker
//! names, the broker address, the runtime figures `clusterList` prints, queue counts and the
//! exact offsets our servers hold.
//!
//! `mqadmin` exits 0 even when a command fails (it prints the stack trace), so a command
//! counts as failed when its output or log shows an exception. Every check runs before the
//! test fails, so one run lists every gap. Skipped, saying so, only when Java is absent.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use client::admin::AdminClient;
use client::producer::{Message, Producer, ProducerConfig};
use client::push_consumer::{ConsumeFrom, ConsumeResult, PushConsumer, PushConsumerConfig};
use integration::{spawn_broker, spawn_namesrv, wait_until, Process, TempDir};
use wire::body::TopicConfig;

const CLUSTER: &str = "MqadminCluster";
const BROKER: &str = "broker-mqadmin";
const TOPIC: &str = "MqadminTopic";
const GROUP: &str = "MqadminGroup";
const NEW_TOPIC: &str = "MqadminNewTopic";
/// Messages sent to queues 0..4 of TOPIC before the group consumes them all.
const FIRST_ROUND: [i64; 4] = [5, 6, 7, 8];
/// Messages sent to queue 0 after the group's consumer has left: its lag.
const LATE_TO_QUEUE_0: i64 = 3;

/// `mqadmin` configures logback from `$ROCKETMQ_HOME/conf/logback_tools.xml`, which is not in
/// the jars: this one gives each run a log file of its own in the test's directory.
const LOGBACK_TOOLS: &str = r#"<configuration>
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>${mqadmin.log}</file>
    <encoder><pattern>%d %p %c - %m%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="FILE"/></root>
</configuration>
"#;

/// Copies rocketmq-tools and its dependencies into `java-tools/target/dependency` and returns
/// the classpath.
fn tools_classpath() -> String {
    let project = Path::new(env!("CARGO_MANIFEST_DIR")).join("java-tools");
    let status = Command::new("mvn")
        .args(["-q", "-B", "package"])
        .current_dir(&project)
        .status()
        .unwrap_or_else(|e| panic!("cannot run mvn (install Maven): {e}"));
    assert!(status.success(), "fetching rocketmq-tools failed: {status}");
    format!("{}/*", project.join("target").join("dependency").display())
}

/// One finished `mqadmin` command.
struct Run {
    command: String,
    stdout: String,
    stderr: String,
    log: String,
}

impl Run {
    fn all(&self) -> String {
        format!(
            "$ mqadmin {}\nstdout:\n{}\nstderr:\n{}\ntools.log:\n{}",
            self.command, self.stdout, self.stderr, self.log
        )
    }

    /// Whitespace-split columns of each stdout line whose first column is `first`.
    fn rows(&self, first: &str) -> Vec<Vec<String>> {
        self.stdout
            .lines()
            .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .filter(|cols| cols.first().map(String::as_str) == Some(first))
            .collect()
    }
}

/// Apache's `mqadmin`, its home (conf, logs, `user.home`) in a directory of its own.
struct Mqadmin {
    classpath: String,
    home: PathBuf,
    namesrv: String,
}

impl Mqadmin {
    fn new(classpath: String, home: PathBuf, namesrv: String) -> Mqadmin {
        std::fs::create_dir_all(home.join("conf")).expect("mqadmin home");
        std::fs::write(home.join("conf/logback_tools.xml"), LOGBACK_TOOLS).expect("logback");
        Mqadmin {
            classpath,
            home,
            namesrv,
        }
    }

    /// Runs `mqadmin <args> -n <namesrv>`, bounded to 60 s.
    fn run(&self, args: &[&str]) -> Run {
        static RUNS: AtomicUsize = AtomicUsize::new(0);
        let log_name = format!("tools-{}.log", RUNS.fetch_add(1, Ordering::SeqCst));
        let log_path = self.home.join(log_name);
        let home = self.home.display();
        let child = Command::new("java")
            .args([
                "-Xmx256m",
                "-XX:TieredStopAtLevel=1",
                "-cp",
                &self.classpath,
            ])
            .arg(format!("-Duser.home={home}"))
            .arg(format!("-Drocketmq.home.dir={home}"))
            .arg(format!("-Dmqadmin.log={}", log_path.display()))
            .arg("-Drocketmq.client.logUseSlf4j=false")
            .arg("org.apache.rocketmq.tools.command.MQAdminStartup")
            .args(args)
            .args(["-n", &self.namesrv])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run java: {e}"));
        let pid = child.id();
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || sender.send(child.wait_with_output()));
        let started = Instant::now();
        let Ok(output) = receiver.recv_timeout(Duration::from_secs(60)) else {
            // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            panic!("mqadmin {args:?} hung for 60 s");
        };
        let output = output.expect("mqadmin output");
        let run = Run {
            command: args.join(" "),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            log: std::fs::read_to_string(&log_path).unwrap_or_default(),
        };
        let took = started.elapsed().as_secs_f64();
        eprintln!("({took:.1} s) {}", run.all());
        assert!(
            output.status.success(),
            "mqadmin {args:?}: {}",
            output.status
        );
        run
    }

    /// Runs the commands at once (each JVM mostly waits: start-up, netty's quiet period).
    fn run_all<const N: usize>(&self, commands: [&[&str]; N]) -> [Run; N] {
        std::thread::scope(|scope| {
            let runs = commands.map(|args| scope.spawn(move || self.run(args)));
            runs.map(|run| run.join().expect("mqadmin thread"))
        })
    }
}

/// Failed expectations, gathered so that one run reports them all.
#[derive(Default)]
struct Checks {
    failures: Vec<String>,
}

impl Checks {
    fn check(&mut self, holds: bool, what: &str, run: &Run) {
        if !holds {
            let failure = format!("mqadmin {}: {what}\n{}", run.command, run.all());
            self.failures.push(failure);
        }
    }

    /// No stack trace on stdout or stderr: mqadmin's only sign that a command failed.
    fn no_exception(&mut self, run: &Run) {
        let clean = !run.stderr.contains("Exception") && !run.stdout.contains("Exception");
        self.check(clean, "printed an exception", run);
    }

    fn finish(self) {
        assert!(
            self.failures.is_empty(),
            "{} mqadmin check(s) failed:\n\n{}",
            self.failures.len(),
            self.failures.join("\n\n")
        );
    }
}

/// Our namesrv and one broker, a topic with traffic, and a consumer group on it.
struct Setup {
    dir: TempDir,
    _namesrv: Process,
    _broker: Process,
    namesrv: String,
    broker: String,
    admin: AdminClient,
    producer: Producer,
}

impl Setup {
    fn start() -> Setup {
        let dir = TempDir::new("mqadmin");
        let namesrv_dir = dir.path().join("namesrv");
        std::fs::create_dir_all(&namesrv_dir).expect("namesrv dir");
        let (namesrv_process, namesrv) = spawn_namesrv(&namesrv_dir, "");
        let names = format!("brokerClusterName={CLUSTER}\nbrokerName={BROKER}\n");
        let (broker_process, broker) = spawn_broker(dir.path(), namesrv, &names);
        let namesrv = namesrv.to_string();
        let admin = AdminClient::start(&namesrv).expect("admin client");
        assert!(
            wait_until(Duration::from_secs(10), || admin.masters(CLUSTER).is_ok()),
            "the broker never registered"
        );
        let producer =
            Producer::start(ProducerConfig::new("mqadmin-producer", &namesrv)).expect("producer");
        Setup {
            dir,
            _namesrv: namesrv_process,
            _broker: broker_process,
            namesrv,
            broker: broker.to_string(),
            admin,
            producer,
        }
    }

    fn create_topic(&self) {
        let config = TopicConfig {
            topic_name: TOPIC.to_string(),
            read_queue_nums: 4,
            write_queue_nums: 4,
            ..TopicConfig::default()
        };
        self.admin
            .create_topic(CLUSTER, &config)
            .expect("create topic");
        let routed = || self.admin.topic_route(TOPIC).is_ok();
        assert!(wait_until(Duration::from_secs(10), routed), "no route");
    }

    fn send(&self, queue_id: i32, count: i64) {
        for n in 0..count {
            let message = Message::new(TOPIC, format!("q{queue_id}-{n}")).with_tags("mqadmin");
            let pick = |queues: &[wire::body::MessageQueue]| {
                queues
                    .iter()
                    .position(|q| q.queue_id == queue_id)
                    .expect("queue")
            };
            self.producer.send_to_queue(&message, pick).expect("send");
        }
    }

    /// Starts the group's push consumer and waits until it has consumed every message sent
    /// so far and committed offsets up to each queue's end.
    fn consume_all(&self) -> PushConsumer {
        let consumed = Arc::new(AtomicUsize::new(0));
        let counter = consumed.clone();
        let mut config = PushConsumerConfig::new(GROUP, &self.namesrv).subscribe(TOPIC, "*");
        config.consume_from = ConsumeFrom::FirstOffset;
        config.offset_dir = self.dir.path().join("offsets");
        config.rebalance_interval = Duration::from_secs(1);
        let consumer = PushConsumer::start(
            config,
            Arc::new(move |_, messages| {
                counter.fetch_add(messages.len(), Ordering::SeqCst);
                ConsumeResult::Success
            }),
        )
        .expect("push consumer");
        let total = FIRST_ROUND.iter().sum::<i64>() as usize;
        let all = || consumed.load(Ordering::SeqCst) >= total;
        assert!(wait_until(Duration::from_secs(30), all), "not all consumed");
        let committed = || {
            self.admin.consume_stats(GROUP, TOPIC).is_ok_and(|stats| {
                stats.offset_table.len() == 4
                    && stats
                        .offset_table
                        .values()
                        .all(|o| o.consumer_offset == o.broker_offset)
            })
        };
        assert!(
            wait_until(Duration::from_secs(30), committed),
            "never committed"
        );
        consumer
    }
}

#[test]
fn apache_mqadmin_reads_and_changes_our_cluster() {
    if Command::new("java").arg("-version").output().is_err() {
        eprintln!("SKIPPED: no java on this machine to run Apache RocketMQ's mqadmin");
        return;
    }
    let classpath = tools_classpath();
    let started_ms = now_ms();
    let setup = Setup::start();
    setup.create_topic();
    for (queue_id, count) in FIRST_ROUND.iter().enumerate() {
        setup.send(queue_id as i32, *count);
    }
    let home = setup.dir.path().join("mqadmin");
    let mqadmin = Mqadmin::new(classpath, home, setup.namesrv.clone());
    let mut checks = Checks::default();
    let consumer = setup.consume_all();
    let client_id = consumer.client_id().to_string();
    let [all, with_ips, status] = mqadmin.run_all([
        &["consumerProgress"],
        &["consumerProgress", "-g", GROUP, "-s", "true"],
        &["consumerStatus", "-g", GROUP, "-i", &client_id],
    ]);
    check_consumer_progress_all(&all, &mut checks);
    check_running_info(&with_ips, &status, &mut checks);
    consumer.shutdown();
    setup.send(0, LATE_TO_QUEUE_0);
    let broker = setup.broker.as_str();
    let update = format!("updateTopic -c {CLUSTER} -t {NEW_TOPIC} -r 4 -w 4");
    let update: Vec<&str> = update.split(' ').collect();
    let [cluster, totals, broker_status, topics, route, status, progress, update, lag, stats] =
        mqadmin.run_all([
            &["clusterList"],
            &["clusterList", "-m"],
            &["brokerStatus", "-b", broker],
            &["topicList"],
            &["topicRoute", "-t", TOPIC],
            &["topicStatus", "-t", TOPIC],
            &["consumerProgress", "-g", GROUP],
            &update[..],
            &["brokerConsumeStats", "-b", broker],
            &["statsAll", "-t", TOPIC],
        ]);
    check_cluster_list(&cluster, broker, &mut checks);
    check_cluster_totals(&totals, &mut checks);
    let store = setup.dir.path().join("store");
    check_broker_status(&broker_status, started_ms, &store, &mut checks);
    check_topic_list(&topics, &mut checks);
    check_topic_route(&route, broker, &mut checks);
    check_topic_status(&status, &mut checks);
    check_consumer_progress_group(&progress, &mut checks);
    check_update_topic(&update, &setup, &mut checks);
    check_broker_consume_stats(&lag, &mut checks);
    check_stats_all(&stats, &mut checks);
    setup.producer.shutdown();
    setup.admin.shutdown();
    checks.finish();
}

/// Each queue's end offset once the late messages are in.
fn broker_offsets() -> [i64; 4] {
    let mut offsets = FIRST_ROUND;
    offsets[0] += LATE_TO_QUEUE_0;
    offsets
}

fn now_ms() -> i64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock");
    since_epoch.as_millis() as i64
}

/// The used fraction of the filesystem holding `path` as Apache's broker computes it
/// (`UtilAll.getDiskPartitionSpaceUsedPercent`): used = total - free, over used + available
/// to unprivileged users, rounded up to a hundredth.
fn disk_used_ratio(path: &Path) -> f64 {
    let c_path = CString::new(path.as_os_str().as_bytes()).expect("path without NUL");
    // SAFETY: `statvfs` is plain old data; all-zero is a valid value that the call overwrites.
    let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c_path` is NUL-terminated and outlives the call; `stats` is a valid out-pointer.
    let result = unsafe { libc::statvfs(c_path.as_ptr(), &mut stats) };
    assert_eq!(result, 0, "statvfs {}", path.display());
    let used = (stats.f_blocks - stats.f_bfree) * stats.f_frsize;
    let entire = used + stats.f_bavail * stats.f_frsize;
    (used * 100).div_ceil(entire) as f64 / 100.0
}

fn is_date(column: Option<&String>) -> bool {
    column.is_some_and(|c| c.len() == 10 && c.as_bytes()[4] == b'-' && c.as_bytes()[7] == b'-')
}

/// `#Cluster Name #Broker Name #BID #Addr #Version #InTPS(LOAD) #OutTPS(LOAD) #PCWait(ms)
/// #Hour #SPACE`; the TPS columns read `tps(queue size,head wait ms)`, all from the broker's
/// runtime info.
fn check_cluster_list(run: &Run, broker: &str, checks: &mut Checks) {
    checks.no_exception(run);
    let rows = run.rows(CLUSTER);
    let row = rows.first().cloned().unwrap_or_default();
    let column = |i: usize| row.get(i).map(String::as_str).unwrap_or("");
    checks.check(rows.len() == 1, "one row for our one broker", run);
    checks.check(column(1) == BROKER, "broker name", run);
    checks.check(column(2) == "0", "broker id 0", run);
    checks.check(column(3) == broker, "broker address", run);
    checks.check(column(4).starts_with("V4_9"), "version V4_9_x", run);
    let tps_load = |c: &str| {
        let Some((tps, load)) = c.split_once('(') else {
            return false;
        };
        let load = load.trim_end_matches("ms)");
        tps.parse::<f64>().is_ok() && load.split(',').all(|n| n.parse::<i64>().is_ok())
    };
    let loads = tps_load(column(5)) && tps_load(column(6));
    checks.check(loads, "InTPS/OutTPS(queue size, head wait ms)", run);
    let wait = column(7).parse::<i64>().is_ok();
    checks.check(wait, "PCWait(ms) (pageCacheLockTimeMills)", run);
    // Apache's broker gives -1 for earliestMessageTimeStamp while it cannot read the first
    // record (it maps 2 x maxMessageSize bytes), and the tool then prints ~500,000 hours.
    let hours = column(8).parse::<f64>().is_ok_and(|h| h >= 0.0);
    checks.check(hours, "Hour (earliestMessageTimeStamp)", run);
    let space = column(9).parse::<f64>().is_ok_and(|s| s > 0.0 && s <= 1.0);
    checks.check(space, "SPACE (commitLogDiskRatio)", run);
    checks.check(!run.stdout.contains("null"), "no null column", run);
}

/// `#Cluster Name #Broker Name #InTotalYest #OutTotalYest #InTotalToday #OutTotalToday`:
/// differences of the runtime info's `msg{Put,Get}Total{YesterdayMorning,TodayMorning,
/// TodayNow}`; the tool prints zeros for all four when any of the six keys is missing.
fn check_cluster_totals(run: &Run, checks: &mut Checks) {
    checks.no_exception(run);
    let rows = run.rows(CLUSTER);
    let row = rows.first().cloned().unwrap_or_default();
    let column = |i: usize| row.get(i).and_then(|c| c.parse::<i64>().ok());
    checks.check(
        rows.len() == 1 && row.get(1).is_some_and(|b| b == BROKER),
        BROKER,
        run,
    );
    let put = FIRST_ROUND.iter().sum::<i64>() + LATE_TO_QUEUE_0;
    let got = FIRST_ROUND.iter().sum::<i64>();
    checks.check(column(4) == Some(put), &format!("InTotalToday {put}"), run);
    let out = column(5).is_some_and(|n| n >= got);
    checks.check(out, &format!("OutTotalToday at least {got}"), run);
}

/// `key: value` lines (`%-32s: %s`) of the broker's runtime info: the keys `clusterList`
/// reads, with the values Apache's broker gives them.
fn check_broker_status(run: &Run, started_ms: i64, store: &Path, checks: &mut Checks) {
    checks.no_exception(run);
    let value = |key: &str| {
        let mut pairs = run.stdout.lines().filter_map(|l| l.split_once(':'));
        let pair = pairs.find(|(k, _)| k.trim() == key);
        pair.map(|(_, v)| v.trim().to_string()).unwrap_or_default()
    };
    let version = value("brokerVersionDesc").starts_with("V4_9");
    checks.check(version, "brokerVersionDesc V4_9_x", run);
    let put = FIRST_ROUND.iter().sum::<i64>() + LATE_TO_QUEUE_0;
    let counted = value("msgPutTotalTodayNow") == put.to_string();
    checks.check(counted, &format!("msgPutTotalTodayNow {put}"), run);
    for key in ["putTps", "getTransferedTps"] {
        let first = value(key).split(' ').next().map(str::parse::<f64>);
        checks.check(matches!(first, Some(Ok(_))), key, run);
    }
    let counters = [
        "sendThreadPoolQueueSize",
        "pullThreadPoolQueueSize",
        "sendThreadPoolQueueHeadWaitTimeMills",
        "pullThreadPoolQueueHeadWaitTimeMills",
        "pageCacheLockTimeMills",
    ];
    for key in counters {
        checks.check(value(key).parse::<i64>().is_ok(), key, run);
    }
    let earliest = value("earliestMessageTimeStamp").parse::<i64>();
    let in_test = earliest.is_ok_and(|ms| ms == -1 || (started_ms..=now_ms()).contains(&ms));
    let what = "earliestMessageTimeStamp: the first message's store time (or -1)";
    checks.check(in_test, what, run);
    let expected = disk_used_ratio(store);
    let ratio = value("commitLogDiskRatio").parse::<f64>();
    let near = ratio.is_ok_and(|r| (r - expected).abs() <= 0.02);
    let what = format!("commitLogDiskRatio: {expected:.2}, used / (used + available) on its disk");
    checks.check(near, &what, run);
}

fn check_topic_list(run: &Run, checks: &mut Checks) {
    checks.no_exception(run);
    let retry = format!("%RETRY%{GROUP}");
    for topic in [TOPIC, retry.as_str(), "TBW102", CLUSTER, BROKER] {
        let listed = run.stdout.lines().any(|l| l.trim() == topic);
        checks.check(listed, &format!("lists {topic}"), run);
    }
}

/// fastjson's pretty print of TopicRouteData (`{0:"addr"}` keys are bare numbers).
fn check_topic_route(run: &Run, broker: &str, checks: &mut Checks) {
    checks.no_exception(run);
    let compact: String = run.stdout.split_whitespace().collect();
    let expected = [
        format!("\"brokerAddrs\":{{0:\"{broker}\"}}"),
        format!("\"brokerName\":\"{BROKER}\""),
        format!("\"cluster\":\"{CLUSTER}\""),
        "\"perm\":6".to_string(),
        "\"readQueueNums\":4".to_string(),
        "\"writeQueueNums\":4".to_string(),
    ];
    for fact in expected {
        checks.check(compact.contains(&fact), &fact, run);
    }
}

/// `#Broker Name #QID #Min Offset #Max Offset #Last Updated`.
fn check_topic_status(run: &Run, checks: &mut Checks) {
    checks.no_exception(run);
    let rows = run.rows(BROKER);
    checks.check(rows.len() == 4, "four queues", run);
    for (queue_id, max_offset) in broker_offsets().iter().enumerate() {
        let row = rows
            .iter()
            .find(|r| r.get(1) == Some(&queue_id.to_string()));
        let holds = row.is_some_and(|r| {
            r.len() >= 5 && r[2] == "0" && r[3] == max_offset.to_string() && is_date(r.get(4))
        });
        let what = format!("queue {queue_id}: min 0, max {max_offset}, last updated");
        checks.check(holds, &what, run);
    }
}

/// `#Topic #Broker Name #QID #Broker Offset #Consumer Offset #Diff #LastTime`, then
/// `Diff Total`.
fn check_consumer_progress_group(run: &Run, checks: &mut Checks) {
    checks.no_exception(run);
    let rows = run.rows(TOPIC);
    checks.check(rows.len() == 4, "four queues of the topic", run);
    for (queue_id, broker_offset) in broker_offsets().iter().enumerate() {
        let consumer_offset = FIRST_ROUND[queue_id];
        let diff = broker_offset - consumer_offset;
        let row = rows
            .iter()
            .find(|r| r.get(2) == Some(&queue_id.to_string()));
        let holds = row.is_some_and(|r| {
            r.len() >= 7
                && r[1] == BROKER
                && r[3] == broker_offset.to_string()
                && r[4] == consumer_offset.to_string()
                && r[5] == diff.to_string()
                && is_date(r.get(6))
        });
        let what = format!("queue {queue_id}: {broker_offset} {consumer_offset} {diff} date");
        checks.check(holds, &what, run);
    }
    let retry = run.rows(&format!("%RETRY%{GROUP}"));
    checks.check(retry.len() == 1, "a row for the retry topic", run);
    let total = format!("Diff Total: {LATE_TO_QUEUE_0}");
    checks.check(run.stdout.contains(&total), &total, run);
}

/// VIEW_BROKER_STATS_DATA: `#Topic #Consumer Group #Accumulation #InTPS #OutTPS #InMsg24Hour
/// #OutMsg24Hour`, the day's puts and the group's gets as the broker counted them.
fn check_stats_all(run: &Run, checks: &mut Checks) {
    checks.no_exception(run);
    let rows = run.rows(TOPIC);
    let row = rows.first().cloned().unwrap_or_default();
    let column = |i: usize| row.get(i).map(String::as_str).unwrap_or("");
    let put = FIRST_ROUND.iter().sum::<i64>() + LATE_TO_QUEUE_0;
    let got = FIRST_ROUND.iter().sum::<i64>();
    checks.check(column(1) == GROUP, "the consuming group", run);
    checks.check(
        column(2) == LATE_TO_QUEUE_0.to_string(),
        "accumulation",
        run,
    );
    checks.check(column(5) == put.to_string(), "messages put today", run);
    checks.check(
        column(6) == got.to_string(),
        "messages the group got today",
        run,
    );
}

/// GET_BROKER_CONSUME_STATS: the group's lag on every queue of the topic, and the total.
fn check_broker_consume_stats(run: &Run, checks: &mut Checks) {
    checks.no_exception(run);
    let rows = run.rows(TOPIC);
    let ours = rows
        .iter()
        .filter(|r| r.get(1).map(String::as_str) == Some(GROUP))
        .count();
    checks.check(ours == 4, "four queues of the topic for the group", run);
    let total = format!("Diff Total: {LATE_TO_QUEUE_0}");
    checks.check(run.stdout.contains(&total), &total, run);
}

/// GET_CONSUMER_RUNNING_INFO relayed by our broker to our consumer: `consumerProgress -s
/// true` names the client of each queue, `consumerStatus -i` prints what the consumer reports.
fn check_running_info(with_ips: &Run, status: &Run, checks: &mut Checks) {
    checks.no_exception(with_ips);
    let rows = with_ips.rows(TOPIC);
    checks.check(rows.len() == 4, "four queues with -s true", with_ips);
    let owned = rows
        .iter()
        .all(|r| r.get(5).map(String::as_str) == Some("127.0.0.1"));
    checks.check(owned, "every queue's client IP is 127.0.0.1", with_ips);
    checks.no_exception(status);
    let reported = status.stdout.contains("PROP_CONSUME_TYPE")
        && status.stdout.contains("CONSUME_PASSIVELY")
        && status.stdout.contains(TOPIC);
    checks.check(
        reported,
        "the consumer's properties and subscription",
        status,
    );
}

/// `#Group #Count #Version #Type #Model #TPS #Diff Total`, one row per `%RETRY%` topic; a
/// group whose stats or connections fail is only logged, so the log is checked too.
fn check_consumer_progress_all(run: &Run, checks: &mut Checks) {
    checks.no_exception(run);
    let logged = !run.log.to_lowercase().contains("exception");
    checks.check(logged, "no exception in tools.log", run);
    let rows = run.rows(GROUP);
    let row = rows.first().cloned().unwrap_or_default();
    let column = |i: usize| row.get(i).map(String::as_str).unwrap_or("");
    checks.check(rows.len() == 1, "one row for the group", run);
    checks.check(column(1) == "1", "one online consumer", run);
    checks.check(column(2).starts_with('V'), "the consumer's version", run);
    let kind = column(3) == "PUSH" && column(4) == "CLUSTERING";
    checks.check(kind, "PUSH CLUSTERING", run);
    checks.check(column(6) == "0", "diff total 0", run);
}

/// The tool creates the topic on every master of the cluster; our namesrv must then route it.
fn check_update_topic(run: &Run, setup: &Setup, checks: &mut Checks) {
    checks.no_exception(run);
    let success = format!("create topic to {} success.", setup.broker);
    checks.check(run.stdout.contains(&success), &success, run);
    let created = || {
        setup.admin.topic_route(NEW_TOPIC).is_ok_and(|route| {
            route.queue_datas.iter().any(|q| {
                q.broker_name == BROKER
                    && q.read_queue_nums == 4
                    && q.write_queue_nums == 4
                    && q.perm == 6
            })
        })
    };
    let routed = wait_until(Duration::from_secs(10), created);
    checks.check(routed, "namesrv routes the new topic, 4/4 queues", run);
}
