package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// multiHandler sends every record to several handlers (console and log file).
type multiHandler []slog.Handler

func fanout(hs []slog.Handler) slog.Handler {
	if len(hs) == 1 {
		return hs[0]
	}
	return multiHandler(hs)
}

func (m multiHandler) Enabled(ctx context.Context, l slog.Level) bool {
	for _, h := range m {
		if h.Enabled(ctx, l) {
			return true
		}
	}
	return false
}

func (m multiHandler) Handle(ctx context.Context, r slog.Record) error {
	for _, h := range m {
		if h.Enabled(ctx, r.Level) {
			if err := h.Handle(ctx, r.Clone()); err != nil {
				return err
			}
		}
	}
	return nil
}

func (m multiHandler) WithAttrs(a []slog.Attr) slog.Handler {
	out := make(multiHandler, len(m))
	for i, h := range m {
		out[i] = h.WithAttrs(a)
	}
	return out
}

func (m multiHandler) WithGroup(name string) slog.Handler {
	out := make(multiHandler, len(m))
	for i, h := range m {
		out[i] = h.WithGroup(name)
	}
	return out
}

// progress reports the advance of one phase: a bar on a terminal, a log line at most every two
// seconds (and at the end) otherwise.
type progress struct {
	name    string
	unit    string
	bar     *mpb.Bar
	pool    *mpb.Progress
	mu      sync.Mutex
	last    time.Time
	started time.Time
	done    sync.Once
}

func newProgress(w io.Writer, tty bool, name, unit string) *progress {
	p := &progress{name: name, unit: unit, started: time.Now()}
	if tty {
		p.pool = mpb.New(mpb.WithOutput(w), mpb.WithWidth(40))
	}
	return p
}

// update is safe for concurrent use.
func (p *progress) update(done, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pool != nil {
		if p.bar == nil {
			p.bar = p.pool.AddBar(int64(total),
				mpb.PrependDecorators(decor.Name(p.name, decor.WC{C: decor.DindentRight | decor.DextraSpace}), decor.CountersNoUnit("%d / %d "+p.unit)),
				mpb.AppendDecorators(decor.Percentage(), decor.Name(" "), decor.AverageETA(decor.ET_STYLE_GO)))
		}
		p.bar.SetCurrent(int64(done))
		return
	}
	if done == total || time.Since(p.last) > 2*time.Second {
		p.last = time.Now()
		rate := float64(done) / time.Since(p.started).Seconds()
		slog.Info(p.name, "done", done, "total", total, "rate", fmt.Sprintf("%.0f %s/s", rate, p.unit))
	}
}

// finish completes the bar and waits for it to be drawn; later calls do nothing.
func (p *progress) finish() {
	p.done.Do(func() {
		if p.pool != nil {
			p.mu.Lock()
			if p.bar != nil {
				p.bar.SetTotal(-1, true)
			}
			p.mu.Unlock()
			p.pool.Wait()
		}
	})
}
