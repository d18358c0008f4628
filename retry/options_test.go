package retry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestOptionsTypedPerConstructor builds a small program outside this
// module that passes each constructor an option it does not read, and
// requires the compiler to refuse every one of those lines, while the same
// program with only valid options builds.
func TestOptionsTypedPerConstructor(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program with the go command")
	}
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		t.Skipf("no go command at %s: %v", goBin, err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	valid := `
	_, _ = retry.New(p, retry.WithName("a"), retry.WithClock(nil), retry.WithMeterProvider(nil), retry.WithBudget(nil), retry.WithLimiter(nil), retry.WithBreaker(nil))
	_, _ = retry.NewTransport(p, retry.WithName("a"), retry.WithClock(nil), retry.WithMeterProvider(nil), retry.WithBudget(nil), retry.WithLimiter(nil), retry.WithLogger(nil), retry.WithBreakers(nil), retry.WithBase(nil))
	_, _ = retry.NewBreaker(s, retry.WithName("a"), retry.WithClock(nil), retry.WithMeterProvider(nil), retry.WithLogger(nil))
	_, _ = retry.NewBreakers(s, 0, retry.WithName("a"), retry.WithClock(nil), retry.WithMeterProvider(nil), retry.WithLogger(nil))
	_, _ = retry.NewLimiter(l, retry.WithName("a"), retry.WithClock(nil), retry.WithMeterProvider(nil))
`
	// Each line must fail to compile.
	invalid := []string{
		`_, _ = retry.NewTransport(p, retry.WithBreaker(nil))`,
		`_, _ = retry.New(p, retry.WithBase(nil))`,
		`_, _ = retry.New(p, retry.WithBreakers(nil))`,
		`_, _ = retry.New(p, retry.WithLogger(nil))`,
		`_, _ = retry.NewBreaker(s, retry.WithBudget(nil))`,
		`_, _ = retry.NewBreaker(s, retry.WithBase(nil))`,
		`_, _ = retry.NewBreakers(s, 0, retry.WithLimiter(nil))`,
		`_, _ = retry.NewLimiter(l, retry.WithLogger(nil))`,
		`_, _ = retry.NewLimiter(l, retry.WithBudget(nil))`,
	}
	build := func(body string) (string, error) {
		dir := t.TempDir()
		files := map[string]string{
			"go.mod": "module optcheck\n\ngo 1.25\n\nrequire github.com/opskit/opskit v0.0.0\n\nreplace github.com/opskit/opskit => " + root + "\n",
			"main.go": "package main\n\nimport \"github.com/opskit/opskit/retry\"\n\nfunc main() {\n" +
				"\tvar p retry.Policy\n\tvar s retry.BreakerSettings\n\tvar l retry.LimiterConfig\n\t_, _, _ = p, s, l\n" + body + "}\n",
		}
		sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
		if err != nil {
			t.Fatal(err)
		}
		files["go.sum"] = string(sum)
		for name, text := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		cmd := exec.Command(goBin, "build", "-mod=mod", "-o", os.DevNull, ".")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOPROXY=off", "GOFLAGS=-mod=mod", "GOWORK=off")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := build(valid); err != nil {
		t.Fatalf("the valid options do not build: %v\n%s", err, out)
	}
	out, err := build("\t" + strings.Join(invalid, "\n\t") + "\n")
	if err == nil {
		t.Fatal("options passed to constructors that do not read them compiled")
	}
	const first = 10 // main.go line of the first invalid call
	for i, line := range invalid {
		re := regexp.MustCompile(fmt.Sprintf(`main\.go:%d:\d+: cannot use`, first+i))
		if !re.MatchString(out) {
			t.Errorf("line %q compiled; compiler output:\n%s", line, out)
		}
	}
}

func TestZeroCollaboratorsRejected(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  func() error
		want string
	}{
		{"breaker", func() error { _, err := New(Policy{}, WithBreaker(&Breaker{})); return err }, "WithBreaker"},
		{"limiter", func() error { _, err := New(Policy{}, WithLimiter(&Limiter{})); return err }, "WithLimiter"},
		{"breakers", func() error { _, err := NewTransport(Policy{}, WithBreakers(&Breakers{})); return err }, "WithBreakers"},
	} {
		err := tt.err()
		if err == nil || !strings.HasPrefix(err.Error(), "retry: "+tt.want+":") {
			t.Errorf("%s: %v, want an error naming %s", tt.name, err, tt.want)
		}
	}
}

func TestZeroBudgetIsTheDefault(t *testing.T) {
	var zero Budget
	def, err := NewBudget(BudgetConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []*Budget{&zero, def} {
		for i := range defaultBudgetTokens {
			if !b.TryRetry() {
				t.Fatalf("retry %d refused, want %d allowed", i+1, defaultBudgetTokens)
			}
		}
		if b.TryRetry() {
			t.Fatal("a retry past the default tokens was allowed")
		}
		for range 10 { // 10 successes at the default 0.1 earn one retry
			b.Success()
		}
		if st := b.Stats(); st.Tokens != 1 || st.Allowed != defaultBudgetTokens || st.Denied != 1 {
			t.Fatalf("stats %+v, want 1 token, %d allowed, 1 denied", st, defaultBudgetTokens)
		}
	}
	// Through New, a zero Budget budgets too.
	r, _ := newTestRetrier(t, Policy{MaxAttempts: 2, BaseDelay: time.Second}, WithBudget(&Budget{}))
	if r.Budget().Stats().Tokens != defaultBudgetTokens {
		t.Fatalf("a Retrier's zero budget holds %v tokens", r.Budget().Stats().Tokens)
	}
}

func TestPermanentThroughWrapping(t *testing.T) {
	p := Permanent(errBoom)
	for _, err := range []error{
		p,
		fmt.Errorf("handler: %w", p),
		errors.Join(errors.New("other"), p),
		&Error{Attempts: 1, Last: fmt.Errorf("x: %w", p)},
	} {
		if !IsPermanent(err) {
			t.Errorf("IsPermanent(%v) = false", err)
		}
		if !errors.Is(err, errBoom) {
			t.Errorf("errors.Is(%v, boom) = false: the marker must not hide the error", err)
		}
	}
	if IsPermanent(errBoom) || IsPermanent(nil) || Permanent(nil) != nil {
		t.Error("an unmarked error is permanent, or Permanent(nil) is not nil")
	}
	// Do stops at a permanent error however it is wrapped.
	calls := 0
	err := Do(context.Background(), Policy{BaseDelay: time.Nanosecond}, func(context.Context) error {
		calls++
		return fmt.Errorf("wrapped: %w", p)
	})
	if calls != 1 || !errors.Is(err, errBoom) {
		t.Fatalf("Do = %v after %d calls, want boom after 1", err, calls)
	}
}

func TestZeroValuesRefuseToWork(t *testing.T) {
	ctx := context.Background()
	req, _ := http.NewRequest(http.MethodPost, "http://x.test/", &closeCounter{Reader: strings.NewReader("x")})
	body := req.Body.(*closeCounter)
	_, terr := new(Transport).RoundTrip(req)
	for name, err := range map[string]error{
		"Retrier":   new(Retrier).Do(ctx, func(context.Context) error { return nil }),
		"Transport": terr,
		"Breaker":   new(Breaker).Execute(ctx, func(context.Context) error { return nil }),
		"Limiter":   new(Limiter).Wait(ctx),
	} {
		if err == nil || !strings.HasPrefix(err.Error(), "retry: the "+name+" is a zero value") {
			t.Errorf("zero %s: %v, want an error naming it", name, err)
		}
	}
	if body.closed.Load() != 1 {
		t.Error("a zero Transport did not close the request body")
	}
}
