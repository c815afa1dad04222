// Command probe produces with rocketmq-client-go v2 (plain SEND_MESSAGE with the long header,
// as that client sends single messages) through our namesrv and broker, then consumes with a
// push consumer, and prints one fact per line for the Rust test:
// SENT n / CONSUMED distinct duplicates / MISSING body.
//
// Usage: probe NAMESRV TOPIC GROUP COUNT
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/apache/rocketmq-client-go/v2/rlog"
)

func main() {
	rlog.SetLogLevel("error")
	namesrv, topic, group := os.Args[1], os.Args[2], os.Args[3]
	count, err := strconv.Atoi(os.Args[4])
	if err != nil {
		fail("count: %v", err)
	}
	produce(namesrv, topic, count)
	consume(namesrv, topic, group, count)
}

func fail(format string, args ...interface{}) {
	fmt.Printf("ERROR "+format+"\n", args...)
	os.Exit(1)
}

func produce(namesrv, topic string, count int) {
	p, err := rocketmq.NewProducer(
		producer.WithNameServer([]string{namesrv}),
		producer.WithGroupName("go-probe-producer"),
		producer.WithRetry(2),
		producer.WithSendMsgTimeout(10*time.Second),
	)
	if err != nil {
		fail("producer: %v", err)
	}
	if err := p.Start(); err != nil {
		fail("producer start: %v", err)
	}
	for i := 0; i < count; i++ {
		msg := primitive.NewMessage(topic, []byte(fmt.Sprintf("go-%d", i)))
		msg.WithTag(fmt.Sprintf("T%d", i%3))
		msg.WithKeys([]string{fmt.Sprintf("k%d", i)})
		result, err := p.SendSync(context.Background(), msg)
		if err != nil {
			fail("send %d: %v", i, err)
		}
		if result.Status != primitive.SendOK {
			fail("send %d: status %v", i, result.Status)
		}
	}
	fmt.Printf("SENT %d\n", count)
	_ = p.Shutdown()
}

func consume(namesrv, topic, group string, count int) {
	var mu sync.Mutex
	seen := map[string]int{}
	c, err := rocketmq.NewPushConsumer(
		consumer.WithNameServer([]string{namesrv}),
		consumer.WithGroupName(group),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset),
	)
	if err != nil {
		fail("consumer: %v", err)
	}
	err = c.Subscribe(topic, consumer.MessageSelector{}, func(ctx context.Context,
		msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		mu.Lock()
		for _, m := range msgs {
			seen[string(m.Body)]++
		}
		mu.Unlock()
		return consumer.ConsumeSuccess, nil
	})
	if err != nil {
		fail("subscribe: %v", err)
	}
	if err := c.Start(); err != nil {
		fail("consumer start: %v", err)
	}
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		done := len(seen) >= count
		mu.Unlock()
		if done {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = c.Shutdown()
	mu.Lock()
	defer mu.Unlock()
	duplicates := 0
	for _, times := range seen {
		duplicates += times - 1
	}
	fmt.Printf("CONSUMED %d %d\n", len(seen), duplicates)
	for i := 0; i < count; i++ {
		if seen[fmt.Sprintf("go-%d", i)] == 0 {
			fmt.Printf("MISSING go-%d\n", i)
		}
	}
}
