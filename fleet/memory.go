package fleet

import (
	"bytes"
	"context"
	"sort"
	"sync"
	"time"

	"github.com/opskit/opskit/clock"
)

// Memory is a Store inside one process: several components (or several
// simulated replicas in a test) share it as a fleet would share
// PostgreSQL. Nothing survives the process.
type Memory struct {
	clock clock.Clock

	mu     sync.Mutex
	keys   map[string][]byte
	states map[string]map[string]State // kind → instance → state
	logs   map[string][]Record         // kind → records
	leases map[string]lease            // name → holder
}

type lease struct {
	holder  string
	expires time.Time
}

// NewMemory returns an empty in-process Store on c (nil: the wall clock).
func NewMemory(c clock.Clock) *Memory {
	if c == nil {
		c = clock.Real()
	}
	return &Memory{
		clock:  c,
		keys:   map[string][]byte{},
		states: map[string]map[string]State{},
		logs:   map[string][]Record{},
		leases: map[string]lease{},
	}
}

var _ Store = (*Memory)(nil)

// Key implements Store.
func (m *Memory) Key(ctx context.Context, name string, proposed []byte) ([]byte, error) {
	if err := Check("name", name); err != nil {
		return nil, err
	}
	if len(proposed) == 0 {
		return nil, Check("proposed key", "")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.keys[name]
	if !ok {
		k = bytes.Clone(proposed)
		m.keys[name] = k
	}
	return bytes.Clone(k), nil
}

// Put implements Store.
func (m *Memory) Put(ctx context.Context, kind, instance string, data []byte) error {
	if err := checkAll("kind", kind, "instance", instance); err != nil {
		return err
	}
	if err := CheckData(data); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	byInstance := m.states[kind]
	if byInstance == nil {
		byInstance = map[string]State{}
		m.states[kind] = byInstance
	}
	byInstance[instance] = State{Instance: instance, At: m.clock.Now(), Data: bytes.Clone(data)}
	return nil
}

// States implements Store.
func (m *Memory) States(ctx context.Context, kind string) ([]State, error) {
	if err := Check("kind", kind); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]State, 0, len(m.states[kind]))
	for _, s := range m.states[kind] {
		s.Data = bytes.Clone(s.Data)
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Instance < out[j].Instance })
	return out, nil
}

// Append implements Store.
func (m *Memory) Append(ctx context.Context, kind string, data []byte) (uint64, error) {
	if err := Check("kind", kind); err != nil {
		return 0, err
	}
	if err := CheckData(data); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	seq := uint64(len(m.logs[kind])) + 1
	m.logs[kind] = append(m.logs[kind], Record{Seq: seq, At: m.clock.Now(), Data: bytes.Clone(data)})
	return seq, nil
}

// Records implements Store.
func (m *Memory) Records(ctx context.Context, kind string, after uint64, limit int) ([]Record, error) {
	if err := Check("kind", kind); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 || limit > MaxRecords {
		limit = MaxRecords
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	log := m.logs[kind]
	if after >= uint64(len(log)) {
		return nil, nil
	}
	log = log[after:]
	if len(log) > limit {
		log = log[:limit]
	}
	out := make([]Record, len(log))
	for i, r := range log {
		r.Data = bytes.Clone(r.Data)
		out[i] = r
	}
	return out, nil
}

// Lead implements Store.
func (m *Memory) Lead(ctx context.Context, name, instance string, ttl time.Duration) (bool, error) {
	if err := checkAll("name", name, "instance", instance); err != nil {
		return false, err
	}
	if err := CheckTTL(ttl); err != nil {
		return false, err
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock.Now()
	l := m.leases[name]
	if l.holder != instance && l.holder != "" && now.Before(l.expires) {
		return false, nil
	}
	m.leases[name] = lease{holder: instance, expires: now.Add(ttl)}
	return true, nil
}

func checkAll(kv ...string) error {
	for i := 0; i+1 < len(kv); i += 2 {
		if err := Check(kv[i], kv[i+1]); err != nil {
			return err
		}
	}
	return nil
}
