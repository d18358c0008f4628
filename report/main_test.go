package report_test

import (
	"log/slog"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/opskit/opskit/internal/component"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		component.Report("report") // the Chromium checks skip without Chromium
		os.Exit(code)
	}))
}

// quiet discards what the components log: failures are checked through
// their results.
var quiet = slog.New(slog.DiscardHandler)
