package health

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func TestTCPDial(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	if err := TCPDial(addr)(context.Background()); err != nil {
		t.Fatalf("dial open listener: %v", err)
	}
	_ = ln.Close()
	if err := TCPDial(addr)(context.Background()); err == nil {
		t.Fatal("dial closed listener succeeded")
	}
	if err := TCPDial("no-port")(context.Background()); err == nil || !strings.Contains(err.Error(), `addr "no-port"`) {
		t.Fatalf("bad addr: %v, want an error naming addr", err)
	}
}

func TestHTTPGet(t *testing.T) {
	code := atomic.Int32{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(int(code.Load()))
	}))
	defer srv.Close()
	check := HTTPGet(srv.Client(), srv.URL)
	for _, tt := range []struct {
		code int32
		ok   bool
	}{{200, true}, {204, true}, {302, true}, {304, true}, {399, true}, {400, false}, {404, false}, {503, false}} {
		code.Store(tt.code)
		if err := check(context.Background()); (err == nil) != tt.ok {
			t.Errorf("status %d: err %v, want ok=%v", tt.code, err, tt.ok)
		}
	}
	for _, bad := range []func(context.Context) error{
		HTTPGet(nil, "ftp://x"), HTTPGet(nil, "http://%zz"),
	} {
		if err := bad(context.Background()); err == nil || !strings.HasPrefix(err.Error(), "health: HTTPGet") {
			t.Errorf("bad argument: %v, want a health: HTTPGet error", err)
		}
	}
}

// A password in the URL never reaches an error, whatever fails.
func TestHTTPGetRedactsCredentials(t *testing.T) {
	code := atomic.Int32{}
	code.Store(500)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(int(code.Load()))
	}))
	defer srv.Close()
	withCreds := strings.Replace(srv.URL, "http://", "http://app:hunter2@", 1)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	for name, check := range map[string]func(context.Context) error{
		"bad status":       HTTPGet(srv.Client(), withCreds),
		"refused":          HTTPGet(nil, strings.Replace(closed.URL, "http://", "http://app:hunter2@", 1)),
		"unparsable":       HTTPGet(nil, "http://app:hunter2@%zz/"),
		"bad scheme":       HTTPGet(nil, "ftp://app:hunter2@host/"),
		"TCPDial bad addr": TCPDial("postgres://app:hunter2@db:5432"),
	} {
		err := check(context.Background())
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: %v, want an error without the password", name, err)
		}
	}
}

// fakeDriver is a database/sql driver whose connections ping as pingErr says.
type fakeDriver struct{ pingErr atomic.Pointer[error] }

type fakeConn struct{ d *fakeDriver }

func (d *fakeDriver) Open(string) (driver.Conn, error) { return fakeConn{d}, nil }
func (fakeConn) Prepare(string) (driver.Stmt, error)   { return nil, errors.New("not supported") }
func (fakeConn) Close() error                          { return nil }
func (fakeConn) Begin() (driver.Tx, error)             { return nil, errors.New("not supported") }
func (c fakeConn) Ping(context.Context) error {
	if p := c.d.pingErr.Load(); p != nil {
		return *p
	}
	return nil
}

var testDriver = &fakeDriver{}

func init() { sql.Register("health-fake", testDriver) }

func TestPing(t *testing.T) {
	db, err := sql.Open("health-fake", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	check := Ping(db)
	if err := check(context.Background()); err != nil {
		t.Fatalf("ping: %v", err)
	}
	down := driver.ErrBadConn
	testDriver.pingErr.Store(&down)
	defer testDriver.pingErr.Store(nil)
	if err := check(context.Background()); err == nil {
		t.Fatal("ping of a failing database passed")
	}
	if err := Ping(nil)(context.Background()); err == nil {
		t.Fatal("nil db passed")
	}
}

func TestDiskFree(t *testing.T) {
	dir := t.TempDir()
	if err := DiskFree(dir, 1)(context.Background()); err != nil {
		t.Fatalf("1 byte free: %v", err)
	}
	if err := DiskFree(dir, math.MaxUint64)(context.Background()); err == nil {
		t.Fatal("MaxUint64 bytes free passed")
	}
	if err := DiskFree(dir+"/missing", 1)(context.Background()); err == nil {
		t.Fatal("missing path passed")
	}
	if err := DiskFree("", 1)(context.Background()); err == nil {
		t.Fatal("empty path passed")
	}
}

func TestGoroutines(t *testing.T) {
	if err := Goroutines(1 << 20)(context.Background()); err != nil {
		t.Fatalf("huge limit: %v", err)
	}
	if err := Goroutines(1)(context.Background()); err == nil {
		t.Fatal("limit 1 passed with the test's goroutines running")
	}
	if err := Goroutines(0)(context.Background()); err == nil {
		t.Fatal("max 0 accepted")
	}
}
