package interop;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendCallback;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;

/**
 * Produces with the official Java producer (sync, async, oneway and batches, with tags and
 * keys) through our namesrv and broker, then consumes with two push consumers of one group,
 * and prints what it saw, one fact per line, for the Rust test to check:
 * SENT n / CONSUMED distinct duplicates / INSTANCE name count / MISSING body.
 *
 * Usage: ProduceConsumeProbe NAMESRV TOPIC GROUP COUNT FIRST_INDEX [consume-only]
 */
public final class ProduceConsumeProbe {
    public static void main(String[] args) throws Exception {
        String namesrv = args[0];
        String topic = args[1];
        String group = args[2];
        int count = Integer.parseInt(args[3]);
        int first = Integer.parseInt(args[4]);
        boolean consumeOnly = args.length > 5 && args[5].equals("consume-only");
        int sent = consumeOnly ? 0 : produce(namesrv, topic, count, first);
        System.out.println("SENT " + sent);
        consume(namesrv, topic, group, count, first);
        System.exit(0);
    }

    private static Message message(String topic, int index) {
        Message message = new Message(topic, "T" + (index % 3), "k" + index,
            ("msg-" + index).getBytes(StandardCharsets.UTF_8));
        return message;
    }

    private static int produce(String namesrv, String topic, int count, int first) throws Exception {
        DefaultMQProducer producer = new DefaultMQProducer("probe-producer");
        producer.setNamesrvAddr(namesrv);
        producer.setSendMsgTimeout(10000);
        producer.start();
        AtomicInteger asyncFailures = new AtomicInteger();
        CountDownLatch asyncDone = new CountDownLatch(count / 4 + 1);
        List<Message> batch = new ArrayList<>();
        int sent = 0;
        for (int index = first; index < first + count; index++) {
            Message message = message(topic, index);
            switch (index % 4) {
                case 0:
                    SendResult result = producer.send(message);
                    if (result.getSendStatus() != SendStatus.SEND_OK) {
                        throw new IllegalStateException("sync send: " + result);
                    }
                    break;
                case 1:
                    producer.send(message, new SendCallback() {
                        public void onSuccess(SendResult result) { asyncDone.countDown(); }
                        public void onException(Throwable error) {
                            asyncFailures.incrementAndGet();
                            System.out.println("ASYNC_ERROR " + error);
                            asyncDone.countDown();
                        }
                    });
                    break;
                case 2:
                    producer.sendOneway(message);
                    break;
                default:
                    batch.add(message);
                    if (batch.size() == 8) {
                        producer.send(batch);
                        batch = new ArrayList<>();
                    }
            }
            sent++;
        }
        if (!batch.isEmpty()) {
            producer.send(batch);
        }
        asyncDone.countDown();
        asyncDone.await(60, TimeUnit.SECONDS);
        producer.shutdown();
        if (asyncFailures.get() > 0) {
            throw new IllegalStateException(asyncFailures.get() + " async sends failed");
        }
        return sent;
    }

    private static void consume(String namesrv, String topic, String group, int count, int first)
            throws Exception {
        Map<String, AtomicInteger> seen = new ConcurrentHashMap<>();
        Map<String, AtomicInteger> perInstance = new ConcurrentHashMap<>();
        List<DefaultMQPushConsumer> consumers = new ArrayList<>();
        for (String instance : new String[] {"one", "two"}) {
            DefaultMQPushConsumer consumer = new DefaultMQPushConsumer(group);
            consumer.setNamesrvAddr(namesrv);
            consumer.setInstanceName(instance);
            consumer.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
            consumer.setPollNameServerInterval(1000);
            consumer.subscribe(topic, "*");
            perInstance.put(instance, new AtomicInteger());
            consumer.registerMessageListener((MessageListenerConcurrently) (messages, context) -> {
                for (MessageExt message : messages) {
                    String body = new String(message.getBody(), StandardCharsets.UTF_8);
                    seen.computeIfAbsent(body, key -> new AtomicInteger()).incrementAndGet();
                    perInstance.get(instance).incrementAndGet();
                }
                return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
            });
            consumer.start();
            consumers.add(consumer);
        }
        long deadline = System.currentTimeMillis() + 90_000;
        while (System.currentTimeMillis() < deadline && !allSeen(seen, count, first)) {
            Thread.sleep(100);
        }
        // Let the consumers commit their offsets before they stop (they also do at shutdown).
        Thread.sleep(1000);
        for (DefaultMQPushConsumer consumer : consumers) {
            consumer.shutdown();
        }
        int duplicates = 0;
        for (AtomicInteger times : seen.values()) {
            duplicates += times.get() - 1;
        }
        System.out.println("CONSUMED " + seen.size() + " " + duplicates);
        for (Map.Entry<String, AtomicInteger> entry : perInstance.entrySet()) {
            System.out.println("INSTANCE " + entry.getKey() + " " + entry.getValue().get());
        }
        for (int index = first; index < first + count; index++) {
            if (!seen.containsKey("msg-" + index)) {
                System.out.println("MISSING msg-" + index);
            }
        }
        Set<String> unexpected = new java.util.HashSet<>(seen.keySet());
        for (int index = first; index < first + count; index++) {
            unexpected.remove("msg-" + index);
        }
        System.out.println("UNEXPECTED " + unexpected.size());
    }

    private static boolean allSeen(Map<String, AtomicInteger> seen, int count, int first) {
        for (int index = first; index < first + count; index++) {
            if (!seen.containsKey("msg-" + index)) {
                return false;
            }
        }
        return true;
    }
}
