// Package queue is a durable retry queue on local disk: what a service
// accepted survives a crash, is handed on when the downstream is back, and
// ends as a dead letter, never silently lost, when it cannot be delivered.
//
//	package main
//
//	import (
//		"context"
//		"log"
//		"time"
//
//		"github.com/opskit/opskit/queue"
//	)
//
//	func main() {
//		q, err := queue.Open("data/queue")
//		if err != nil {
//			log.Fatal(err)
//		}
//		defer q.Close() // after the worker: deferred calls run last first
//
//		w, err := queue.StartWorker(q, func(ctx context.Context, m *queue.Message) error {
//			log.Printf("deliver %s: %s", m.ID, m.Payload)
//			return nil // an error would nack: redelivery after backoff
//		}, queue.WorkerConfig{Concurrency: 4, Visibility: time.Minute})
//		if err != nil {
//			log.Fatal(err)
//		}
//		defer func() { // bounded: a handler that hangs cannot hold the exit
//			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
//			defer cancel()
//			if err := w.Shutdown(ctx); err != nil {
//				log.Print(err)
//			}
//		}()
//
//		id, err := q.Enqueue(context.Background(), []byte(`{"item":"book"}`))
//		if err != nil {
//			log.Fatal(err) // not stored; when err is nil the message is fsynced
//		}
//		log.Println("queued", id)
//	}
//
// # Storage
//
// A queue is a directory (mode 0700; one writable by other users is set
// to 0700) of segment files (mode 0600) holding checksummed records
// (CRC32C) for every event: enqueue, lease, ack, nack, dead, requeue,
// purge. An exclusive flock on the directory itself keeps a second process
// out (ErrLocked), whatever happens to the files in it; one on dir/LOCK
// also keeps out, and is respected by, opskit versions before format 2.
// Segment files are opened without following symbolic links, and a
// segment name that is a link or not a regular file makes Open fail; files
// that are not the queue's are logged and left alone.
//
// Segments are in on-disk format 2: a versioned header, then 32 KiB
// blocks of chunks, each with its own checksum and a checksum of its
// header, records fragmented across blocks (the shape of LevelDB's log).
// Payload bytes can never be taken for a record, and damage costs at most
// the records it touches plus the rest of its block. Directories written
// by earlier versions (format 1, no header) open as they are and are
// migrated in the background: new records go to format 2 segments, and the
// compactor copies what each format 1 file holds forward, fsyncs the
// copies, then deletes the file, so a crash at any point loses nothing.
// (Until then a damaged format 1 file keeps that format's weakness: its
// recovery tries every offset and can take bytes inside a payload for a
// record.) A segment of a newer format than this package reads
// makes Open fail with an error naming the version.
//
// Only an index (id, location, state, attempt, times, dedupe key) lives in
// memory: measured, about 135 bytes of heap per stored message, plus about
// 40 bytes and the key's length for a dedupe key (TestMemoryReturnsAfterDrain
// logs the figure). The index gives its memory back when a large backlog
// drains. Payloads are read from disk when delivered, so memory does not
// grow with the payload bytes of a backlog. The oldest segment is deleted
// once none of its messages is stored any more and the acks that emptied
// it are fsynced; a segment that keeps only a few (a long delay, a dead
// letter) has them copied forward and is deleted too. Message ids are
// never given twice, across compaction and restarts (in relaxed mode, the
// id of a message lost in a crash may be given again).
//
// # Durability
//
// By default every call that changes state (Enqueue, Ack, Nack, Reject,
// Requeue, Purge) returns after its record is fsynced. Concurrent callers
// share fsyncs: the first caller to find no commit running writes and
// fsyncs everything appended so far, while later callers gather for the
// next commit, so throughput grows with the number of producers and a lone
// producer waits for exactly one fsync. WithSyncInterval selects relaxed
// mode, which returns at once and fsyncs on an interval; its documentation
// says what it can lose. The lease record written by Receive is not
// waited for; it reaches disk with the next commit, so a crash before that
// does not count the interrupted delivery as an attempt.
//
// # Recovery
//
// Open never refuses a damaged queue. Only the newest segment may end in a
// torn write (the writer finishes a segment on disk before it writes the
// next), so only its tail is cut off. Bad bytes anywhere else, a damaged
// record followed by valid ones, the damaged end of an older segment or an
// older segment cut short (a finished segment ends with a seal record),
// are skipped, counted (Stats.Corrupt, the opskit.queue.corrupt_records
// metric) and reported by Recovered as a *CorruptError listing each
// region; a damaged record is never returned as data. A record found
// damaged when it is read for delivery is quarantined (a purge record) and
// counted the same way.
//
// A read that fails (an I/O error, not damage) deletes nothing: the
// message stays where it is, Stats.ReadErrors counts the failure, and it
// is tried again after a backoff (1s doubling to 5m) while other messages
// are delivered. After 5 failures in a row it is stuck: Stats.Stuck counts
// it and Stats returns an error, so the health check fails, until a read
// works.
//
// # Delivery
//
// Receive leases the ready message with the lowest id for a visibility
// timeout; Ack deletes it, Nack schedules a redelivery after the retry
// policy's delay for its attempt, Reject dead-letters it, Extend keeps the
// lease. An expired lease makes it ready again. Delivery is at least once:
// a consumer must tolerate a message it already handled, for example after
// a crash between its side effect and its Ack. A message whose attempt
// number has reached the policy's MaxAttempts becomes a dead letter on its
// next failure, and a line is logged (at most a few a minute). Release
// gives a delivery back without spending its attempt ("not now": the
// downstream refused before doing anything) and costs no fsync of its own.
//
// Dead letters are kept in an index by id, so DeadLetters pages through
// them (DeadFilter: after an id, dead since or until a time, a reason
// prefix, a limit) without looking at the live messages. Requeue and Purge
// take one id; RequeueDead and PurgeDead take a DeadFilter and commit
// their records together. DeadLetterHandler serves all of it over HTTP to
// operators, behind an audit.Guard, each action audited. Ids have one
// textual form, 16 hex digits, in String, JSON, ParseID and URLs.
//
// Every wait a caller gives (a delay, a not-before time, a visibility, an
// extension) is at most MaxWait; longer ones are refused, so no deadline
// can overflow into the past.
//
// # Concurrency
//
// A Queue is safe for concurrent use. Worker runs a Handler with bounded
// concurrency; what the handler returns settles the message (see Handler:
// nil acks, retry.Permanent dead-letters, an open breaker or a retry-after
// hint releases it and pauses the Worker, any other error nacks). The
// Worker survives its backend failing: a failed Receive, Ack or Nack is
// retried after a jittered backoff, and Worker.Check (a health check)
// fails while its calls keep failing, when a handler is stuck past its
// timeout, or once it has stopped. Shut the Worker down before closing the
// Queue, so handlers can settle their messages; Shutdown returns when its
// context ends, naming the messages still being handled. Close waits for
// the queue's background goroutines, never for user code.
//
// # Defaults
//
// Durable mode; DefaultRetryPolicy() (33 deliveries, waits 1s doubling to
// 5m with equal jitter: at least an hour of outage, nominally 2h3m, before
// a dead letter); 64 MiB segments; 16 MiB largest payload; no bound on bytes or
// messages (WithMaxBytes, WithMaxMessages answer ErrFull, or block with
// WithBlockWhenFull); the global OTel meter provider; slog.Default().
//
// # Errors
//
// Callers branch on ErrFull, ErrDuplicate, ErrEmpty, ErrLeaseLost,
// ErrNotFound, ErrClosed, ErrLocked, ErrCorrupt, ErrBacklog and
// ErrWorkerStopped with errors.Is; *CorruptError and *BacklogError carry details. After a
// failed write or fsync the queue refuses further changes: what the disk
// holds after such a failure is unknown, and reopening re-reads it.
//
// # Other backends
//
// Backend is the contract *Queue implements; package queuetest checks any
// implementation (the postgres module's Queue is one). Worker,
// DeadLetterHandler and HealthCheck work on any Backend.
package queue
