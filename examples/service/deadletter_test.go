package main

import (
	"strings"
	"testing"
)

// An id read from /queue/dead requeues that message: the downstream
// refuses an order (a dead letter at once), an operator reads its id from
// the list, requeues it with the token once the downstream takes orders
// again, and it is delivered. The order counted bad once, as it died; its
// late delivery counts nothing more, and the requeue is in the audit trail.
func TestDeadLetterIDFromListRequeuesThatOrder(t *testing.T) {
	base, _, _ := startService(t, "-demo-traffic=false", "-operator-token", testToken)
	bearer := "Bearer " + testToken
	if code, body := do(t, "POST", base+"/demo/downstream?mode=reject", ""); code != 200 {
		t.Fatalf("set reject: %d %s", code, body)
	}
	if code, body := do(t, "POST", base+"/api/orders", `{"item":"desk","quantity":1}`, "X-Tenant", "acme"); code != 202 {
		t.Fatalf("order while the downstream rejects = %d %s, want 202", code, body)
	}
	var dead []deadLetter
	waitFor(t, "the order to become a dead letter", func() bool { dead = deadLetters(t, base); return len(dead) == 1 })
	id := dead[0].ID
	if !strings.Contains(string(dead[0].Payload), "desk") {
		t.Errorf("dead letter %s payload %q, want the desk order", id, dead[0].Payload)
	}
	waitFor(t, "the dead letter to count", func() bool { _, bad := fulfilmentEvents(t, base); return bad == 1 })

	if code, body := do(t, "POST", base+"/demo/downstream?mode=up", ""); code != 200 {
		t.Fatalf("set up: %d %s", code, body)
	}
	if code, body := do(t, "POST", base+"/queue/dead/"+id+"/requeue", "", "Authorization", bearer); code != 200 {
		t.Fatalf("requeue %s (the id /queue/dead lists) = %d %s, want 200", id, code, body)
	}
	waitFor(t, "the requeued order to be delivered", func() bool { return demoStatus(t, base).Received == 1 })
	if dead := deadLetters(t, base); len(dead) != 0 {
		t.Errorf("/queue/dead after the requeue = %v, want empty", dead)
	}
	if total, bad := fulfilmentEvents(t, base); total != 1 || bad != 1 {
		t.Errorf("order-fulfilment: %d events, %d bad; want the one order, counted bad once as it died", total, bad)
	}
	if _, body := get(t, base+"/audit", "Authorization", bearer); !strings.Contains(body, `"queue.requeue"`) || !strings.Contains(body, id) {
		t.Errorf("/audit lacks the requeue of %s: %s", id, body)
	}
	if uses := featureUses(t, base, "ops.requeue-dead-letter"); uses != 1 {
		t.Errorf("ops.requeue-dead-letter has %d uses, want the 1 requeue", uses)
	}
}
