package connector

import "github.com/twmb/franz-go/pkg/kgo"

// tracker keeps the commit watermark of one partition while its records are
// delivered concurrently and finish in any order. The offset it offers to commit
// is one past the last record of the longest finished prefix, so a commit never
// passes a record that is still running. Offsets need not be contiguous
// (compaction and transaction markers leave gaps): the tracker follows the
// offsets it was given, in the order the consumer saw them.
//
// A tracker is not safe for concurrent use; the consumer guards it with its mutex.
type tracker struct {
	// pending holds the dispatched records not yet behind the watermark, in
	// offset order; the head is always unfinished.
	pending []*entry
	// next is what to commit: every dispatched record below next.Offset has
	// finished. Offset is -1 until the first record finishes.
	next kgo.EpochOffset
	// last is the highest offset added, -1 before the first.
	last int64
	// committed is the highest offset the group coordinator acknowledged, -1 before any.
	committed int64
	// first is the offset of the first record added, -1 before any: where the
	// group stood when this consumer got the partition.
	first int64
	// highWatermark is the partition's end offset at the last fetch, -1 before any.
	highWatermark int64
}

type entry struct {
	offset int64
	epoch  int32
	done   bool
}

func newTracker() *tracker {
	return &tracker{next: kgo.EpochOffset{Epoch: -1, Offset: -1}, last: -1, committed: -1, first: -1, highWatermark: -1}
}

// add registers a record about to be delivered. It refuses (false) an offset
// at or below one already added: that record is already tracked, and
// delivering it twice from one consumer would only add a duplicate.
func (t *tracker) add(offset int64, epoch int32) (*entry, bool) {
	if offset <= t.last {
		return nil, false
	}
	t.last = offset
	if t.first < 0 {
		t.first = offset
	}
	e := &entry{offset: offset, epoch: epoch}
	t.pending = append(t.pending, e)
	return e, true
}

// finish marks e finished and moves the watermark over the finished prefix.
func (t *tracker) finish(e *entry) {
	e.done = true
	for len(t.pending) > 0 && t.pending[0].done {
		head := t.pending[0]
		t.next = kgo.EpochOffset{Epoch: head.epoch, Offset: head.offset + 1}
		t.pending[0] = nil
		t.pending = t.pending[1:]
	}
}

// toCommit returns the offset to commit and whether it is ahead of the last commit.
func (t *tracker) toCommit() (kgo.EpochOffset, bool) {
	return t.next, t.next.Offset > t.committed
}

// committedAt records an acknowledged commit.
func (t *tracker) committedAt(offset int64) {
	t.committed = max(t.committed, offset)
}

// inFlight returns how many added records have not finished, and how many
// finished ones wait behind an unfinished record.
func (t *tracker) inFlight() (running, waiting int) {
	for _, e := range t.pending {
		if e.done {
			waiting++
		} else {
			running++
		}
	}
	return running, waiting
}

// lag is how many records of the partition the group has not committed yet:
// the end offset at the last fetch minus the committed offset (or, before the
// first commit, the offset this consumer started at). It reports false while
// no fetch has said where the partition ends.
func (t *tracker) lag() (int64, bool) {
	if t.highWatermark < 0 {
		return 0, false
	}
	position := t.committed
	if position < 0 {
		position = t.first
	}
	if position < 0 {
		position = t.highWatermark
	}
	return max(t.highWatermark-position, 0), true
}
