//! Text helpers for the tables: local times as Apache's tool prints them, truncation to a
//! column, and the message detail block of the query commands.

use client::admin::AdminClient;
use wire::message::MessageRecord;

/// `yyyy-MM-dd HH:mm:ss,SSS` in local time (`UtilAll.timeMillisToHumanString2`).
pub fn time_millis(millis: i64) -> String {
    let (date, time) = local(millis);
    format!("{date} {time},{:03}", millis.rem_euclid(1000))
}

/// `yyyy-MM-dd HH:mm:ss` in local time.
pub fn time_seconds(millis: i64) -> String {
    let (date, time) = local(millis);
    format!("{date} {time}")
}

fn local(millis: i64) -> (String, String) {
    let seconds = millis.div_euclid(1000) as libc::time_t;
    // SAFETY: `tm` is plain old data; all-zero is a valid value that the call overwrites.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call; `localtime_r` is the thread-safe variant.
    let result = unsafe { libc::localtime_r(&seconds, &mut tm) };
    if result.is_null() {
        return (format!("@{seconds}"), String::new());
    }
    (
        format!(
            "{:04}-{:02}-{:02}",
            tm.tm_year + 1900,
            tm.tm_mon + 1,
            tm.tm_mday
        ),
        format!("{:02}:{:02}:{:02}", tm.tm_hour, tm.tm_min, tm.tm_sec),
    )
}

/// Parses `-s` of resetOffsetByTime / consumeMessage: `now` (-1 where allowed), milliseconds
/// since the epoch, or local `yyyy-MM-dd#HH:mm:ss:SSS`.
pub fn parse_time(text: &str, now_allowed: bool) -> Option<i64> {
    let text = text.trim();
    if text == "now" && now_allowed {
        return Some(-1);
    }
    if let Ok(millis) = text.parse::<i64>() {
        return Some(millis);
    }
    let (date, time) = text.split_once('#')?;
    let mut date = date.split('-').map(|p| p.parse::<i32>().ok());
    let mut time = time.split(':').map(|p| p.parse::<i32>().ok());
    // SAFETY: plain old data, filled in below.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    tm.tm_year = date.next()?? - 1900;
    tm.tm_mon = date.next()?? - 1;
    tm.tm_mday = date.next()??;
    tm.tm_hour = time.next()??;
    tm.tm_min = time.next()??;
    tm.tm_sec = time.next()??;
    let millis = time.next().flatten().unwrap_or(0);
    tm.tm_isdst = -1;
    // SAFETY: `tm` is a valid, initialised struct for the call.
    let seconds = unsafe { libc::mktime(&mut tm) };
    (seconds != -1).then(|| seconds as i64 * 1000 + i64::from(millis))
}

/// At most `width` characters of `text` (Apache's `frontStringAtLeast`).
pub fn front(text: &str, width: usize) -> String {
    text.chars().take(width).collect()
}

pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The client's id of a message: its UNIQ_KEY, else the broker's offset id.
pub fn message_id(record: &MessageRecord) -> String {
    wire::properties::find(&record.properties, wire::properties::UNIQ_KEY)
        .map(str::to_string)
        .unwrap_or_else(|| record.as_view().offset_msg_id().encode())
}

/// The detail block of queryMsgById / queryMsgByOffset, as Apache prints it, then who
/// consumes the topic.
pub fn message_detail(record: &MessageRecord, admin: Option<&AdminClient>) -> String {
    let properties = record.properties_map();
    let bracketed = |name: &str| format!("[{}]", properties.get(name).unwrap_or("null"));
    let mut pairs: Vec<String> = properties.iter().map(|(k, v)| format!("{k}={v}")).collect();
    pairs.sort();
    let lines = [
        ("OffsetID:", record.as_view().offset_msg_id().encode()),
        ("Topic:", record.topic.clone()),
        ("Tags:", bracketed(wire::properties::TAGS)),
        ("Keys:", bracketed(wire::properties::KEYS)),
        ("Queue ID:", record.queue_id.to_string()),
        ("Queue Offset:", record.queue_offset.to_string()),
        ("CommitLog Offset:", record.commit_log_offset.to_string()),
        ("Reconsume Times:", record.reconsume_times.to_string()),
        ("Born Timestamp:", time_millis(record.born_timestamp)),
        ("Store Timestamp:", time_millis(record.store_timestamp)),
        ("Born Host:", record.born_host.to_string()),
        ("Store Host:", record.store_host.to_string()),
        ("System Flag:", record.sys_flag.to_string()),
        ("Properties:", format!("{{{}}}", pairs.join(", "))),
        (
            "Message Body:",
            String::from_utf8_lossy(&record.body).into_owned(),
        ),
    ];
    let mut text = String::new();
    for (name, value) in lines {
        text.push_str(&format!("{name:<20} {value}\n"));
    }
    if let Some(admin) = admin {
        match admin.topic_consumers(&record.topic) {
            Ok(groups) if groups.is_empty() => text.push_str("\nWARN: No Consumer\n"),
            Ok(groups) => text.push_str(&format!("\nConsumer groups: {}\n", groups.join(", "))),
            Err(error) => text.push_str(&format!("\nConsumer groups unknown: {error}\n")),
        }
    }
    text
}

/// A message as JSON for `--json`.
pub fn message_json(record: &MessageRecord) -> serde_json::Value {
    let properties: serde_json::Map<String, serde_json::Value> = record
        .properties_map()
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::from(v)))
        .collect();
    serde_json::json!({
        "msgId": message_id(record),
        "offsetMsgId": record.as_view().offset_msg_id().encode(),
        "topic": record.topic,
        "queueId": record.queue_id,
        "queueOffset": record.queue_offset,
        "commitLogOffset": record.commit_log_offset,
        "bornTimestamp": record.born_timestamp,
        "storeTimestamp": record.store_timestamp,
        "bornHost": record.born_host.to_string(),
        "storeHost": record.store_host.to_string(),
        "reconsumeTimes": record.reconsume_times,
        "sysFlag": record.sys_flag,
        "properties": properties,
        "body": String::from_utf8_lossy(&record.body),
    })
}
