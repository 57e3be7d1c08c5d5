package archive

import (
	"context"
	"io"
	"sync/atomic"
	"time"
)

// Progress receives the bytes of input read so far and the total (-1 if
// unknown). It is called at most about ten times a second and once at the
// end; it may be nil.
type Progress func(done, total int64)

const progressEvery = 100 * time.Millisecond

// progressReader counts the bytes read through it, reports them to p at
// most every progressEvery, and fails reads once ctx is done so that a
// cancelled operation stops even in the middle of a large file.
type progressReader struct {
	ctx   context.Context
	r     io.Reader
	p     Progress
	total int64
	n     atomic.Int64
	last  time.Time
}

func newProgressReader(ctx context.Context, r io.Reader, total int64, p Progress) *progressReader {
	return &progressReader{ctx: ctx, r: r, p: p, total: total}
}

func (pr *progressReader) Read(b []byte) (int, error) {
	if err := pr.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := pr.r.Read(b)
	done := pr.n.Add(int64(n))
	if pr.p != nil {
		if now := time.Now(); now.Sub(pr.last) >= progressEvery {
			pr.last = now
			pr.p(done, pr.total)
		}
	}
	return n, err
}

// finish reports the final count.
func (pr *progressReader) finish() {
	if pr.p != nil {
		done := pr.n.Load()
		total := pr.total
		if total < done {
			total = done
		}
		pr.p(done, total)
	}
}

// Counter reports a count of bytes processed by a writer-side
// operation (seed, commit), at most every progressEvery.
type Counter struct {
	p     Progress
	total int64
	n     int64
	last  time.Time
}

// NewCounter returns a Counter reporting to p (which may be nil).
func NewCounter(p Progress, total int64) *Counter { return &Counter{p: p, total: total} }

func (pc *Counter) add(n int64) {
	if pc == nil {
		return
	}
	pc.n += n
	if pc.p == nil {
		return
	}
	if now := time.Now(); now.Sub(pc.last) >= progressEvery {
		pc.last = now
		done := pc.n
		if pc.total >= 0 && done >= pc.total {
			done = pc.total - 1 // an estimate: never show 100% before the end
		}
		pc.p(done, pc.total)
	}
}

// Finish reports the final count as the total.
func (pc *Counter) Finish() {
	if pc != nil && pc.p != nil {
		pc.p(pc.n, pc.n)
	}
}

// CountingReader is r counted for a Progress, failing reads once its
// context is done: what a copy that is not an extraction (an image handed
// in whole) reports progress and learns of cancellation with.
type CountingReader struct{ pr *progressReader }

// NewCountingReader counts the reads of r towards total for p (which may
// be nil), at most every 100 ms, and fails them once ctx is done.
func NewCountingReader(ctx context.Context, r io.Reader, total int64, p Progress) CountingReader {
	return CountingReader{newProgressReader(ctx, r, total, p)}
}

func (c CountingReader) Read(b []byte) (int, error) { return c.pr.Read(b) }

// Finish reports the final count.
func (c CountingReader) Finish() { c.pr.finish() }
