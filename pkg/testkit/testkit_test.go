package testkit

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

func TestEachDatabaseIsFreshAndSeparate(t *testing.T) {
	a, b := DB(t), DB(t)
	if _, err := a.Exec(`CREATE TABLE only_in_a (id int)`); err != nil {
		t.Fatal(err)
	}
	var exists bool
	if err := b.QueryRow(`SELECT to_regclass('only_in_a') IS NOT NULL`).Scan(&exists); err != nil || exists {
		t.Fatalf("databases are shared (exists=%v, err=%v)", exists, err)
	}
}

func TestKafkaAcceptsAProduceAndFetch(t *testing.T) {
	brokers := Kafka(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: "x", BatchTimeout: time.Millisecond, AllowAutoTopicCreation: true}
	defer w.Close()
	if err := w.WriteMessages(ctx, kafka.Message{Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: "x", MaxWait: 100 * time.Millisecond})
	defer r.Close()
	if m, err := r.ReadMessage(ctx); err != nil || string(m.Value) != "v" {
		t.Fatalf("read %q, %v", m.Value, err)
	}
}
