package redact

import (
	"errors"
	"io"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestText(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", ""},
		{"plain error", "plain error"},
		{"dial postgres://app:hunter2@db:5432/orders: refused", "dial postgres://app:xxxxx@db:5432/orders: refused"},
		{"GET https://u:p@x/y and https://v:q@z", "GET https://u:xxxxx@x/y and https://v:xxxxx@z"},
		{"https://user@host/ has no password", "https://user@host/ has no password"},
		{"https://host/a@b stays", "https://host/a@b stays"},
		{"http://u:@host empty password", "http://u:@host empty password"},
		{"host=db user=app password=hunter2 sslmode=off", "host=db user=app password=xxxxx sslmode=off"},
		{"PASSWORD=s3cret&x=1", "PASSWORD=xxxxx&x=1"},
		{`"postgres://a:b@c"`, `"postgres://a:xxxxx@c"`},
		{"://:@", "://:@"},
		{"x://a:b@", "x://a:xxxxx@"},
	}
	for _, tc := range cases {
		if got := Text(tc.in); got != tc.want {
			t.Errorf("Text(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestTextDoesNotAllocateWhenClean(t *testing.T) {
	s := strings.Repeat("connection refused ", 10)
	if n := testing.AllocsPerRun(100, func() { _ = Text(s) }); n != 0 {
		t.Errorf("Text of a clean string allocated %v times", n)
	}
}

func TestError(t *testing.T) {
	if Error(nil) != nil {
		t.Fatal("Error(nil) != nil")
	}
	clean := errors.New("refused")
	if Error(clean) != clean {
		t.Error("a clean error was wrapped")
	}
	err := Error(errors.Join(io.EOF, errors.New("GET http://a:b@c")))
	if strings.Contains(err.Error(), ":b@") || !errors.Is(err, io.EOF) {
		t.Errorf("Error = %q, Is(EOF) = %v", err, errors.Is(err, io.EOF))
	}
}

func FuzzText(f *testing.F) {
	for _, s := range []string{"postgres://app:hunter2@db/x", "password=x", "://", "a://b:c@d://e:f@g", "PassWord=\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Text(s)
		if len(got) > len(s)+len(mask)*(strings.Count(s, "@")+len(s)/9+1) {
			t.Fatalf("Text grew %d bytes to %d", len(s), len(got))
		}
		if again := Text(got); again != got {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, got, again)
		}
	})
}
