package organize

import (
	"context"
	"os"
	"testing"
	"time"
)

func TestProbeIndexSpeed(t *testing.T) {
	dir := os.Getenv("PROBE_DIR")
	if dir == "" {
		t.Skip()
	}
	for _, w := range []int{1, 1, 1, 1, 1} {
		t0 := time.Now()
		inv, err := Index(context.Background(), dir, IndexOptions{Workers: w})
		if err != nil {
			t.Fatal(err)
		}
		el := time.Since(t0)
		bad := 0
		for _, e := range inv.Entries {
			if e.Err != nil {
				bad++
			}
		}
		t.Logf("workers %d: %d files in %v = %.0f files/s, %d errors", w, len(inv.Entries), el, float64(len(inv.Entries))/el.Seconds(), bad)
	}
}
