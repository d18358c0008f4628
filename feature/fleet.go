package feature

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/opskit/opskit/fleet"
)

// The names this package uses in a fleet.Store.
const (
	// FleetKind is the kind of the per-instance states in the store: each
	// replica Puts its snapshot under its instance name.
	FleetKind = "feature"
	// FleetKeyName is the name of the shared tenant key in the store.
	FleetKeyName = "feature.tenant-key"
	// storeTimeout bounds each store call the registry makes on its own.
	storeTimeout = 10 * time.Second
)

// storeCtx bounds a store call by storeTimeout of real time (the store's
// I/O is real even when the registry runs on a fake clock).
func storeCtx(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, storeTimeout)
}

// openStore takes the fleet's tenant key (unless one was given) and, when
// no directory snapshot was restored, this instance's state from the
// store. Both are needed before any use is counted, so an error fails New.
//
// dirKey is the key a data directory already holds (nil: none). It is
// what this instance proposes, so the first replica to turn the store on
// keeps counting its history under the same key. A replica whose
// directory holds another key keeps its history, but tenants counted
// before and after the change are hashed differently and may count twice
// until that history leaves the period: its reports say so.
func (r *Registry) openStore(needKey, restore bool, dirKey *[2]uint64) error {
	ctx, cancel := storeCtx(context.Background())
	defer cancel()
	if needKey {
		proposed := randomKey()
		if dirKey != nil {
			proposed = *dirKey
		}
		k, err := r.store.Key(ctx, FleetKeyName, keyBytes(proposed))
		if err != nil {
			return fmt.Errorf("feature: fleet store: tenant key: %w", err)
		}
		if len(k) != 16 {
			return fmt.Errorf("%w: the fleet store's tenant key %s is %d bytes, want 16", ErrInvalid, FleetKeyName, len(k))
		}
		r.key = keyOf(k)
		if dirKey != nil && *dirKey != r.key && !restore {
			r.keyNote = fmt.Sprintf("instance %s: usage restored from %s was counted under that directory's own tenant key, not the fleet's (since %s): a tenant seen before and after may count twice until that history leaves the period",
				r.instance, r.dir, r.clock.Now().UTC().Format("2006-01-02 15:04 MST"))
			r.log.Warn("feature: "+r.keyNote, "instance", r.instance)
		}
	}
	if !restore {
		return nil
	}
	states, err := r.store.States(ctx, FleetKind)
	if err != nil {
		return fmt.Errorf("feature: fleet store: read this instance's state: %w", err)
	}
	for _, s := range states {
		if s.Instance != r.instance {
			continue
		}
		st, err := decodeState(s.Data)
		if err != nil {
			// Counted again from zero rather than refusing to start; the
			// bad state stays in the log, and the next Put replaces it.
			r.log.Warn("feature: this instance's state in the fleet store is corrupt; starting empty", "instance", r.instance, "err", err)
			return nil
		}
		r.mu.Lock()
		r.pending = st.Features
		r.restoreDriftLocked(st.Drift)
		r.mu.Unlock()
	}
	return nil
}

func keyBytes(k [2]uint64) []byte {
	b := make([]byte, 16)
	for i := range 8 {
		b[i] = byte(k[0] >> (8 * i))
		b[8+i] = byte(k[1] >> (8 * i))
	}
	return b
}

// Publish writes this instance's state to the fleet store now (the
// registry also does it every snapshot interval and on Shutdown) and
// takes up switches made on other replicas since. Without a store it
// does nothing. A failure is returned, logged by the background writer,
// and shown as a warning on reports until a later publish succeeds; the
// local counts are kept either way.
func (r *Registry) Publish(ctx context.Context) error {
	if r.store == nil {
		return nil
	}
	r.pubMu.Lock() // one publish at a time: the clash check compares with our own last Put
	defer r.pubMu.Unlock()
	ctx, cancel := storeCtx(ctx)
	defer cancel()
	states, err := r.store.States(ctx, FleetKind)
	if err == nil {
		r.checkClash(states)
		data := r.encodeNow()
		if len(data) > fleet.MaxData {
			err = fmt.Errorf("this replica's state is %d bytes, over the store's limit of %d (fleet.MaxData): fewer features or tenants per replica", len(data), fleet.MaxData)
		} else if err = r.store.Put(ctx, FleetKind, r.instance, data); err == nil {
			r.lastPut = sumOf(data)
			r.putDone = true
			r.takeSwitches(states)
		}
	}
	if err != nil {
		msg := fmt.Sprintf("the fleet store failed at %s UTC: %v (this instance's counts are kept locally and published at the next success)",
			r.clock.Now().UTC().Format("2006-01-02 15:04:05"), err)
		r.storeErr.Store(&msg)
		return fmt.Errorf("feature: fleet store: publish: %w", err)
	}
	r.storeErr.Store(nil)
	return nil
}

// sumOf is the CRC-32C a snapshot ends with (0 for a short one).
func sumOf(data []byte) uint32 {
	if len(data) < 4 {
		return 0
	}
	return binary.LittleEndian.Uint32(data[len(data)-4:])
}

// checkClash notices another process publishing under this instance's
// name: the store's row is no longer what this registry last put. Their
// counts overwrite each other, so it is logged and shown on reports.
// Requires pubMu.
func (r *Registry) checkClash(states []fleet.State) {
	if !r.putDone {
		return
	}
	for _, s := range states {
		if s.Instance == r.instance && sumOf(s.Data) != r.lastPut {
			msg := fmt.Sprintf("another replica publishes as instance %q too (seen %s UTC): their counts overwrite each other; give each replica its own WithInstance",
				r.instance, r.clock.Now().UTC().Format("2006-01-02 15:04:05"))
			if r.clash.Swap(&msg) == nil {
				r.log.Error("feature: "+msg, "instance", r.instance)
			}
		}
	}
}

// takeSwitches applies every switch another replica made later than this
// replica's own switch of the same feature.
func (r *Registry) takeSwitches(states []fleet.State) {
	for _, s := range states {
		if s.Instance == r.instance {
			continue
		}
		st, err := decodeState(s.Data)
		if err != nil {
			continue // reports name it
		}
		for name, fs := range st.Features {
			if f, ok := r.Lookup(name); ok && fs.Switch != nil {
				f.restoreSwitch(fs.Switch, false)
			}
		}
	}
}

// otherStates returns the other instances' states: from the store when
// there is one, else from the directory's snapshot files; unreadable ones
// are named in the warnings.
func (r *Registry) otherStates() (states []*state, warnings []string) {
	if r.store == nil {
		return r.dirStates()
	}
	for _, msg := range []*string{r.storeErr.Load(), r.clash.Load(), &r.keyNote} {
		if msg != nil && *msg != "" {
			warnings = append(warnings, *msg)
		}
	}
	ctx, cancel := storeCtx(context.Background())
	defer cancel()
	fs, err := r.store.States(ctx, FleetKind)
	if err != nil {
		return nil, append(warnings, fmt.Sprintf("the fleet store could not be read (figures are this instance's only): %v", err))
	}
	for _, s := range fs {
		if s.Instance == r.instance {
			continue
		}
		st, err := decodeState(s.Data)
		if err != nil {
			var ce *CorruptError
			if errors.As(err, &ce) {
				ce.Path = "fleet store state of " + s.Instance
			}
			warnings = append(warnings, err.Error())
			continue
		}
		st.Instance = s.Instance
		states = append(states, st)
	}
	return states, warnings
}
