package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/opskit/opskit/internal/atomicfile"
)

// stateFile is the Writer's state in its directory.
const stateFile = "state.json"

// stateVersion is the state format written today.
const stateVersion = 1

// maxPending bounds the weeks waiting for the webhook.
const maxPending = 2 * MaxCatchUp

// state is what a Writer keeps between runs, so that every week is
// written once and none is skipped by a restart.
type state struct {
	Version int `json:"v"`
	// Since is when the first Writer on the directory started: weeks that
	// ended before it are not reported.
	Since time.Time `json:"since"`
	// Last is the last week written; empty before the first.
	Last string `json:"last,omitempty"`
	// Pending lists the written weeks the webhook has not taken yet,
	// oldest first.
	Pending []string `json:"pending,omitempty"`
}

// decodeState parses and checks a state file.
func decodeState(b []byte) (state, error) {
	var st state
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return state{}, fmt.Errorf("report: state: %w", err)
	}
	if dec.More() {
		return state{}, errors.New("report: state: data after the JSON object")
	}
	switch {
	case st.Version != stateVersion:
		return state{}, fmt.Errorf("report: state: version %d, this build reads %d", st.Version, stateVersion)
	case st.Since.IsZero():
		return state{}, errors.New("report: state: since is missing")
	case len(st.Pending) > maxPending:
		return state{}, fmt.Errorf("report: state: %d pending weeks, at most %d", len(st.Pending), maxPending)
	}
	if st.Last != "" {
		if _, err := ParseWeek(st.Last); err != nil {
			return state{}, fmt.Errorf("report: state: last: %w", err)
		}
	}
	for _, p := range st.Pending {
		if _, err := ParseWeek(p); err != nil {
			return state{}, fmt.Errorf("report: state: pending: %w", err)
		}
	}
	return st, nil
}

// loadState reads dir's state; a missing file is a fresh state since now.
func loadState(dir string, now time.Time) (state, error) {
	path := filepath.Join(dir, stateFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return state{Version: stateVersion, Since: now.UTC()}, nil
	}
	if err != nil {
		return state{}, fmt.Errorf("report: state: %w", err)
	}
	st, err := decodeState(b)
	if err != nil {
		return state{}, fmt.Errorf("%w (file %s)", err, path)
	}
	return st, nil
}

// saveState replaces dir's state atomically.
func saveState(dir string, st state) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("report: state: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(dir, stateFile), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("report: state: %w", err)
	}
	return nil
}
