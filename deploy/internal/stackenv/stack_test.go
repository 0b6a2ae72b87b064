package stackenv

import "testing"

func TestAddrsRead(t *testing.T) {
	var a Addrs
	for _, line := range []string{
		"linkcredit is up (1.0s). Logs in /tmp/x/logs", "",
		"  redirect     http://127.0.0.1:8080", "  conversions  http://127.0.0.1:8081",
		"  reporting    http://127.0.0.1:8082", "  kafka        127.0.0.1:9092",
		"  postgres     postgres://postgres@127.0.0.1:15432/linkcredit?sslmode=disable", "  admin token  lc_x",
	} {
		a.Read(line)
	}
	want := Addrs{Redirect: "127.0.0.1:8080", Conversions: "127.0.0.1:8081", Reporting: "127.0.0.1:8082",
		Kafka: "127.0.0.1:9092", PostgresURL: "postgres://postgres@127.0.0.1:15432/linkcredit?sslmode=disable"}
	if a != want || !a.Complete() {
		t.Fatalf("read %+v", a)
	}
	if (Addrs{}).Complete() || a.Read("postgres ::%zz") {
		t.Fatal("an empty or bad banner passes")
	}
}
