package organize

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// RunOptions are the inputs of a whole organize run.
type RunOptions struct {
	Options
	// IndexWorkers is the number of parallel header readers (default: Workers).
	IndexWorkers int
	// IndexProgress and WriteProgress, when set, receive progress updates.
	IndexProgress func(done, total int)
	WriteProgress func(done, total int)
}

// Run indexes root, decides the courses and writes them under outDir. It returns the decisions
// and the per-course outcomes; the error is non-nil only when the run as a whole failed (input
// unreadable, output unwritable, nothing organised).
func Run(ctx context.Context, root, outDir string, ro RunOptions) (*Result, []*CourseOutcome, error) {
	t0 := time.Now()
	workers := ro.IndexWorkers
	if workers <= 0 {
		workers = max(ro.Workers, 1)
	}
	inv, err := Index(ctx, root, IndexOptions{Workers: workers, Progress: ro.IndexProgress})
	if err != nil {
		return nil, nil, fmt.Errorf("indexing %s: %w", root, err)
	}
	indexed := time.Since(t0)
	res := Build(inv, ro.Options)
	slog.Info("indexed", "files", len(inv.Entries), "seconds", fmt.Sprintf("%.3f", indexed.Seconds()),
		"patients", len(res.Patients), "courses", len(res.Courses))
	for _, w := range res.Warnings {
		slog.Warn(w)
	}
	outcomes, err := Write(ctx, res, outDir, WriteOptions{Progress: ro.WriteProgress})
	rep := BuildReport(res, outcomes)
	slog.Info("organized", "courses_ok", rep.Summary.CoursesOK, "courses_failed", rep.Summary.CoursesFailed,
		"placed", rep.Summary.Placed, "orphan", rep.Summary.Orphan, "duplicate", rep.Summary.Duplicate,
		"unreadable", rep.Summary.Unreadable, "seconds", fmt.Sprintf("%.3f", time.Since(t0).Seconds()))
	return res, outcomes, err
}
