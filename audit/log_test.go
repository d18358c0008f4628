package audit

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

func TestAppendReadBack(t *testing.T) {
	l, path := openLog(t)
	appendN(t, l, 3)
	got, err := readAll(t, path, testKey)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if len(got) != 3 {
		t.Fatalf("read %d records, want 3", len(got))
	}
	for i, e := range got {
		if e.Seq != uint64(i+1) || e.Target != "t"+itoa(i+1) || e.Actor != "ann" || !e.Time.Equal(epoch) {
			t.Errorf("record %d = %+v", i+1, e)
		}
	}
	seq, hash := l.Head()
	if seq != 3 || hash != got[2].Hash {
		t.Errorf("Head = %d %s, want 3 %s", seq, hash, got[2].Hash)
	}
}

func TestFileModes(t *testing.T) {
	_, path := openLog(t)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v, want 0600", fi.Mode().Perm())
	}
	di, _ := os.Stat(filepath.Dir(path))
	if di.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v, want 0700", di.Mode().Perm())
	}
}

func TestOpenRejectsBadArguments(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(filepath.Join(dir, "a"), []byte("short")); err == nil || !strings.Contains(err.Error(), "key is 5 bytes") {
		t.Errorf("short key: %v", err)
	}
	if _, err := Open("", testKey); err == nil || !strings.Contains(err.Error(), "path") {
		t.Errorf("empty path: %v", err)
	}
}

// Reopening carries the chain on, across the index's boundaries.
func TestReopenContinuesChain(t *testing.T) {
	l, path := openLog(t)
	appendN(t, l, indexEvery+1)
	_ = l.Close()
	l2, err := Open(path, testKey)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer l2.Close()
	if err := l2.Append(context.Background(), Record{Actor: "bob", Action: "queue.purge", Result: "ok"}); err != nil {
		t.Fatal(err)
	}
	got, err := readAll(t, path, testKey)
	if err != nil || len(got) != indexEvery+2 || got[len(got)-1].Actor != "bob" {
		t.Fatalf("read %d records, err %v", len(got), err)
	}
	if len(l2.index) != 2 {
		t.Errorf("index has %d points, want 2", len(l2.index))
	}
}

func TestAppendAfterClose(t *testing.T) {
	l, _ := openLog(t)
	_ = l.Close()
	if err := l.Append(context.Background(), Record{Actor: "a", Action: "x"}); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close = %v, want ErrClosed", err)
	}
}

func TestAppendRefusesHugeRecord(t *testing.T) {
	l, _ := openLog(t)
	err := l.Append(context.Background(), Record{Actor: "a", Action: "x", Detail: strings.Repeat("d", MaxRecordSize)})
	if err == nil || !strings.Contains(err.Error(), "shorten Detail") {
		t.Errorf("huge record: %v", err)
	}
	appendN(t, l, 1) // still usable
}

// tamper applies change to the file at path.
func tamper(t *testing.T, path string, change func([][]byte) [][]byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(b, []byte("\n"))
	lines = lines[:len(lines)-1] // the empty piece after the last newline
	if err := os.WriteFile(path, bytes.Join(change(lines), nil), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Every kind of tampering is reported at the first record it touches, by
// the reader and by Open.
func TestTamperingDetected(t *testing.T) {
	cases := []struct {
		name     string
		change   func([][]byte) [][]byte
		key      []byte
		wantLine int
	}{
		{"edited field", func(ls [][]byte) [][]byte {
			ls[2] = bytes.Replace(ls[2], []byte(`"ann"`), []byte(`"eve"`), 1)
			return ls
		}, testKey, 3},
		{"removed record", func(ls [][]byte) [][]byte { return append(ls[:1], ls[2:]...) }, testKey, 2},
		{"swapped records", func(ls [][]byte) [][]byte { ls[1], ls[2] = ls[2], ls[1]; return ls }, testKey, 2},
		{"duplicated record", func(ls [][]byte) [][]byte {
			return append(ls[:2:2], append([][]byte{ls[1]}, ls[2:]...)...)
		}, testKey, 3},
		{"removed first record", func(ls [][]byte) [][]byte { return ls[1:] }, testKey, 1},
		{"garbage line appended", func(ls [][]byte) [][]byte { return append(ls, []byte("{}\n")) }, testKey, 5},
		{"hash replaced", func(ls [][]byte) [][]byte {
			ls[3] = append(ls[3][:len(ls[3])-67], []byte(strings.Repeat("0", 64)+"\"}\n")...)
			return ls
		}, testKey, 4},
		{"wrong key", func(ls [][]byte) [][]byte { return ls }, []byte("another key of sixteen+ bytes"), 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, path := openLog(t)
			appendN(t, l, 4)
			_ = l.Close()
			tamper(t, path, tc.change)
			_, err := readAll(t, path, tc.key)
			var ce *ChainError
			if !errors.As(err, &ce) || !errors.Is(err, ErrTampered) {
				t.Fatalf("read err = %v, want a *ChainError", err)
			}
			if ce.Line != tc.wantLine {
				t.Errorf("reported line %d (%v), want %d", ce.Line, err, tc.wantLine)
			}
			if _, err := Open(path, tc.key); !errors.As(err, &ce) {
				t.Errorf("Open = %v, want a *ChainError", err)
			}
		})
	}
}

// Cutting whole records off the end leaves a valid chain: the documented
// limit, which only an anchor kept elsewhere (Head) can show.
func TestTailTruncationNeedsAnAnchor(t *testing.T) {
	l, path := openLog(t)
	appendN(t, l, 4)
	anchor, _ := l.Head()
	_ = l.Close()
	tamper(t, path, func(ls [][]byte) [][]byte { return ls[:2] })
	l2, err := Open(path, testKey)
	if err != nil {
		t.Fatalf("Open of a truncated log: %v", err)
	}
	defer l2.Close()
	if seq, _ := l2.Head(); seq >= anchor {
		t.Errorf("Head after truncation = %d, want below the anchor %d", seq, anchor)
	}
}

// A last record cut short at any byte is removed by Open, and the log
// carries on from the record before it.
func TestTornTailRepaired(t *testing.T) {
	l, path := openLog(t)
	appendN(t, l, 3)
	_ = l.Close()
	whole, _ := os.ReadFile(path)
	lastStart := bytes.LastIndexByte(whole[:len(whole)-1], '\n') + 1
	for cut := lastStart + 1; cut < len(whole); cut++ {
		if err := os.WriteFile(path, whole[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		l, err := Open(path, testKey)
		if err != nil {
			t.Fatalf("cut at %d: Open: %v", cut, err)
		}
		if seq, _ := l.Head(); seq != 2 {
			t.Fatalf("cut at %d: Head %d, want 2", cut, seq)
		}
		if err := l.Append(context.Background(), Record{Actor: "bob", Action: "x", Result: "ok"}); err != nil {
			t.Fatalf("cut at %d: Append: %v", cut, err)
		}
		_ = l.Close()
		got, err := readAll(t, path, testKey)
		if err != nil || len(got) != 3 || got[2].Actor != "bob" {
			t.Fatalf("cut at %d: read %d records, err %v", cut, len(got), err)
		}
	}
}

// failingFile fails the write or the fsync it is told to.
type failingFile struct {
	file
	failWrite, failSync error
	shortWrite          bool
}

func (f *failingFile) Write(p []byte) (int, error) {
	if f.failWrite != nil {
		if f.shortWrite {
			n, _ := f.file.Write(p[:len(p)/2])
			return n, f.failWrite
		}
		return 0, f.failWrite
	}
	return f.file.Write(p)
}

func (f *failingFile) Sync() error {
	if f.failSync != nil {
		return f.failSync
	}
	return f.file.Sync()
}

func TestFailedWriteIsUndone(t *testing.T) {
	l, path := openLog(t)
	appendN(t, l, 1)
	ff := &failingFile{file: l.f, failWrite: errors.New("ENOSPC"), shortWrite: true}
	l.f = ff
	if err := l.Append(context.Background(), Record{Actor: "a", Action: "x"}); err == nil || !strings.Contains(err.Error(), "ENOSPC") {
		t.Fatalf("Append = %v, want the write error", err)
	}
	ff.failWrite = nil
	appendN(t, l, 1)
	got, err := readAll(t, path, testKey)
	if err != nil || len(got) != 2 {
		t.Fatalf("read %d records, err %v; want 2 and no error", len(got), err)
	}
}

func TestFailedSyncStopsTheLog(t *testing.T) {
	l, path := openLog(t)
	appendN(t, l, 1)
	l.f = &failingFile{file: l.f, failSync: errors.New("EIO")}
	if err := l.Append(context.Background(), Record{Actor: "a", Action: "x"}); err == nil {
		t.Fatal("Append with a failing fsync succeeded")
	}
	err := l.Append(context.Background(), Record{Actor: "a", Action: "x"})
	if err == nil || !strings.Contains(err.Error(), "reopen") {
		t.Fatalf("Append after a failed fsync = %v, want the log unusable", err)
	}
	_ = l.Close()
	l2, err := Open(path, testKey) // the record whose fsync failed is there or not; either verifies
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	_ = l2.Close()
}

func TestMetrics(t *testing.T) {
	reader := metric.NewManualReader()
	mp := metric.NewMeterProvider(metric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	l, _ := openLog(t, WithMeterProvider(mp))
	appendN(t, l, 2)
	l.f = &failingFile{file: l.f, failWrite: errors.New("EIO")}
	_ = l.Append(context.Background(), Record{Actor: "a", Action: "x"})
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				got[m.Name] = d.DataPoints[0].Value
			case metricdata.Gauge[int64]:
				got[m.Name] = d.DataPoints[0].Value
			}
		}
	}
	want := map[string]int64{"opskit.audit.records": 2, "opskit.audit.failures": 1, "opskit.audit.head": 2}
	for name, v := range want {
		if got[name] != v {
			t.Errorf("%s = %d, want %d", name, got[name], v)
		}
	}
}

func TestLoadKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secrets", "audit.key")
	k1, err := LoadKey(path)
	if err != nil || len(k1) != 32 {
		t.Fatalf("LoadKey created %d bytes, err %v", len(k1), err)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v", fi.Mode().Perm())
	}
	k2, err := LoadKey(path)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("second LoadKey = %x, %v; want the same key", k2, err)
	}
	_ = os.WriteFile(path, []byte("not hex"), 0o600)
	if _, err := LoadKey(path); err == nil || !strings.Contains(err.Error(), "not hex") {
		t.Errorf("bad key file: %v", err)
	}
	_ = os.WriteFile(path, []byte("abcd\n"), 0o600)
	if _, err := LoadKey(path); err == nil || !strings.Contains(err.Error(), "2 bytes") {
		t.Errorf("short key file: %v", err)
	}
}

func FuzzReader(f *testing.F) {
	dir := f.TempDir()
	path := filepath.Join(dir, "seed.jsonl")
	l, err := Open(path, testKey)
	if err != nil {
		f.Fatal(err)
	}
	for _, r := range []Record{{Actor: "ann", Action: "queue.requeue", Target: "00000000000000a1", Result: "ok"},
		{Actor: "bob\n\"x", Action: "feature.switch", Result: "denied", Detail: "é\x00"}} {
		if err := l.Append(context.Background(), r); err != nil {
			f.Fatal(err)
		}
	}
	_ = l.Close()
	seed, _ := os.ReadFile(path)
	f.Add(seed)
	f.Add(seed[:len(seed)-5])
	f.Add([]byte("{\"seq\":1}\n"))
	f.Add([]byte(""))
	f.Add([]byte("\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rd := NewReader(bytes.NewReader(data), testKey)
		var consumed int64
		for {
			e, err := rd.Next()
			if err != nil {
				var ce *ChainError
				if err.Error() != "EOF" && !errors.As(err, &ce) {
					t.Fatalf("error %v is neither EOF nor a *ChainError", err)
				}
				if ce != nil && ce.Offset != consumed {
					t.Fatalf("error at offset %d, verified up to %d", ce.Offset, consumed)
				}
				return
			}
			if e.Seq == 0 {
				t.Fatal("record with seq 0 verified")
			}
			consumed = rd.offset
		}
	})
}

func TestOneWriterPerLog(t *testing.T) {
	l, path := openLog(t)
	if _, err := Open(path, testKey); err == nil || !strings.Contains(err.Error(), "one writer per log") {
		t.Fatalf("second Open = %v, want refused while the first is open", err)
	}
	_ = l.Close()
	l2, err := Open(path, testKey)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	_ = l2.Close()
}

// Records written before Release existed (or without one) still verify
// and read back after the log is reopened WithRelease; new records carry
// it unless they name their own.
func TestReleaseStampedOldRecordsReadable(t *testing.T) {
	l, path := openLog(t)
	appendN(t, l, 2)
	_ = l.Close()
	old, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(old, []byte(`"release"`)) {
		t.Fatalf("a record without a release stores the field: %s", old)
	}
	l2, err := Open(path, testKey, WithRelease("0123456789ab"))
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer l2.Close()
	ctx := context.Background()
	if err := l2.Append(ctx, Record{Actor: "bob", Action: "queue.purge", Result: "ok"}); err != nil {
		t.Fatal(err)
	}
	if err := l2.Append(ctx, Record{Actor: "bob", Action: "queue.purge", Result: "ok", Release: "other"}); err != nil {
		t.Fatal(err)
	}
	got, err := readAll(t, path, testKey)
	if err != nil || len(got) != 4 {
		t.Fatalf("read %d records, err %v", len(got), err)
	}
	for i, want := range []string{"", "", "0123456789ab", "other"} {
		if got[i].Release != want {
			t.Errorf("record %d: release %q, want %q", i+1, got[i].Release, want)
		}
	}
}
