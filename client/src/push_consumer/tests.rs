//! Unit tests of the push consumer's queue allocation.

use super::*;

fn queues(count: i32) -> Vec<MessageQueue> {
    (0..count)
        .map(|queue_id| MessageQueue {
            broker_name: "b".into(),
            queue_id,
            topic: "T".into(),
        })
        .collect()
}

#[test]
fn average_allocation_shares_every_queue_once() {
    for (count, clients) in [(8, 3), (8, 8), (3, 5), (16, 3), (1, 1)] {
        let ids: Vec<String> = (0..clients).map(|c| format!("c{c}")).collect();
        let mut taken = Vec::new();
        for id in &ids {
            let mine = allocate_average(&queues(count), &ids, id);
            assert!(
                mine.len() <= (count as usize).div_ceil(clients),
                "{count}/{clients}"
            );
            taken.extend(mine);
        }
        taken.sort();
        taken.dedup();
        assert_eq!(
            taken.len(),
            count as usize,
            "{count} queues over {clients} clients"
        );
    }
    let ids = vec!["a".to_string(), "b".to_string(), "c".to_string()];
    let first: Vec<i32> = allocate_average(&queues(8), &ids, "a")
        .iter()
        .map(|q| q.queue_id)
        .collect();
    assert_eq!(first, vec![0, 1, 2]);
    assert!(allocate_average(&queues(8), &ids, "stranger").is_empty());
}
