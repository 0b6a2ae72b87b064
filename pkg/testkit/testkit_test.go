package testkit

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
	"time"
	_ "time/tzdata"

	"github.com/lib/pq"
	"github.com/segmentio/kafka-go"

	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/pkg/kafkax"
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

// make test runs the AtInstant tests at the Makefile's INSTANTS; they must
// be exactly testkit.Instants(), and each a distinct, meaningful moment.
func TestMakefileRunsEveryInstant(t *testing.T) {
	b, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?ms)^INSTANTS := (.*?[^\\])$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("Makefile has no INSTANTS")
	}
	listed := strings.Fields(strings.ReplaceAll(string(m[1]), "\\", " "))
	var want []string
	for _, in := range Instants() {
		want = append(want, in.At.Format(time.RFC3339))
	}
	if strings.Join(listed, " ") != strings.Join(want, " ") {
		t.Fatalf("Makefile INSTANTS\n %v\ntestkit.Instants()\n %v", listed, want)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	chicago, _ := time.LoadLocation("America/Chicago")
	for _, tt := range []struct {
		name string
		loc  *time.Location
	}{{"berlin-autumn-dst-change-day", berlin}, {"berlin-spring-dst-change-day", berlin},
		{"chicago-autumn-dst-change-day", chicago}, {"chicago-spring-dst-change-day", chicago}} {
		at := instant(t, tt.name).In(tt.loc)
		y, mo, d := at.Date()
		start := time.Date(y, mo, d, 0, 0, 0, 0, tt.loc)
		if h := start.AddDate(0, 0, 1).Sub(start).Hours(); h == 24 {
			t.Errorf("%s: %s is a 24-hour day in %s", tt.name, at.Format(time.DateOnly), tt.loc)
		}
	}
}

func instant(t *testing.T, name string) time.Time {
	for _, in := range Instants() {
		if in.Name == name {
			return in.At
		}
	}
	t.Fatalf("no instant %s", name)
	return time.Time{}
}

func TestReadTopicSeesEveryPartition(t *testing.T) {
	brokers := Kafka(t)
	ctx := context.Background()
	if err := kafkax.EnsureTopics(ctx, brokers, kafkax.Security{}, events.Topics()); err != nil {
		t.Fatal(err)
	}
	w := kafkax.NewWriter(kafkax.WriterConfig{Brokers: brokers})
	defer w.Close()
	var msgs []kafka.Message
	for i := range 50 {
		msgs = append(msgs, kafka.Message{Topic: events.TopicClicks, Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprint(i))})
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	readCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	ReadTopic(readCtx, t, brokers, events.TopicClicks, func(m kafka.Message) bool {
		seen[string(m.Value)] = true
		return len(seen) == len(msgs)
	})
	if len(seen) != len(msgs) {
		t.Fatalf("read %d of %d messages", len(seen), len(msgs))
	}
}

// A stopped broker's address refuses connections and is its own again
// when it starts: meanwhile it stays bound, so no socket asking for port 0
// is given it.
func TestStoppedBrokerKeepsItsAddress(t *testing.T) {
	b := RestartableKafka(t)
	addr := b.Addr
	b.Stop()
	if b.held == nil {
		t.Fatal("the stopped broker's address is not held")
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("a stopped broker accepted a connection")
	}
	for range 200 { // ports for port 0 skip the held one
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		got := ln.Addr().String()
		ln.Close()
		if got == addr {
			t.Fatalf("port 0 was given the stopped broker's %s", addr)
		}
	}
	b.Start(t)
	if b.Addr != addr || b.held != nil {
		t.Fatalf("restarted on %s (held %v), want %s", b.Addr, b.held, addr)
	}
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("the restarted broker: %v", err)
	}
	c.Close()
}

// TestMigratedDatabasesAreCopiesOfOneTemplate: databases asked for with
// the same migrations are copies of one template, each of its own; other
// migrations get another template.
func TestMigratedDatabasesAreCopiesOfOneTemplate(t *testing.T) {
	v1 := fstest.MapFS{"0001_a.up.sql": {Data: []byte(`CREATE TABLE a (id int PRIMARY KEY)`)}}
	v2 := fstest.MapFS{"0001_a.up.sql": v1["0001_a.up.sql"], "0002_b.up.sql": {Data: []byte(`CREATE TABLE b (id int)`)}}
	open := func(u string) *sql.DB {
		db, err := sql.Open("postgres", u)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	one, two := open(MigratedDatabaseURL(t, "tmpltest", v1)), open(MigratedDatabaseURL(t, "tmpltest", v1))
	if _, err := one.Exec(`INSERT INTO tmpltest.a VALUES (1)`); err != nil {
		t.Fatalf("the migrations are not there: %v", err)
	}
	var n int
	if err := two.QueryRow(`SELECT count(*) FROM tmpltest.a`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the second copy has %d rows (%v), want 0: copies are shared", n, err)
	}
	// The service migrating at start finds nothing to do.
	if err := database.Migrate(context.Background(), two, "tmpltest", v1); err != nil {
		t.Fatal(err)
	}
	three := open(MigratedDatabaseURL(t, "tmpltest", v2))
	if _, err := three.Exec(`INSERT INTO tmpltest.b VALUES (1)`); err != nil {
		t.Fatalf("other migrations, same template: %v", err)
	}
	var names []string
	for _, fsys := range []fstest.MapFS{v1, v2} {
		sum, err := migrationsSum(fsys)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, "template_tmpltest_"+sum)
	}
	var templates int
	if err := two.QueryRow(`SELECT count(*) FROM pg_database WHERE datname = ANY($1) AND datistemplate AND NOT datallowconn`,
		pq.Array(names)).Scan(&templates); err != nil || templates != 2 {
		t.Fatalf("%d of the templates %v (%v), want one for each set of migrations, marked a template", templates, names, err)
	}
}
