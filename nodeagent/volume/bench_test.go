package volume

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkSyncAtomicUpdate measures one ConfigMap update of a 20-key
// volume through the "..data" swap, beside its anchor: the same update
// written file by file with Sync (the layout before the swap), measured in
// the same run. The goal is a ratio under 3: atomicity writes every file
// again, where Sync writes only the changed ones.
func BenchmarkSyncAtomicUpdate(b *testing.B) {
	versions := make([][]File, 2)
	for v := range versions {
		for i := range 20 {
			data := fmt.Appendf(nil, "value %d of key %d\n", v, i)
			for len(data) < 1024 {
				data = append(data, '.')
			}
			versions[v] = append(versions[v], File{Path: fmt.Sprintf("key-%02d", i), Data: data, Mode: 0o644})
		}
	}
	run := func(b *testing.B, sync func(dir string, files []File, i int) error) time.Duration {
		dir := b.TempDir()
		if err := sync(dir, versions[0], 0); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		for i := 0; i < b.N; i++ {
			if err := sync(dir, versions[(i+1)%2], i); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start) / time.Duration(b.N)
	}
	t0 := time.Now()
	atomic := run(b, func(dir string, files []File, i int) error {
		_, err := SyncAtomic(dir, files, t0.Add(time.Duration(i)*time.Second))
		return err
	})
	b.StopTimer()
	anchor := run(b, func(dir string, files []File, _ int) error {
		_, err := Sync(dir, files)
		return err
	})
	ratio := float64(atomic) / float64(anchor)
	b.ReportMetric(float64(atomic.Microseconds()), "µs/update")
	b.ReportMetric(float64(anchor.Microseconds()), "anchor-µs/update")
	b.ReportMetric(ratio, "ratio")
	b.Logf("20-key update: atomic %s, anchor (file by file) %s, ratio %.2f (goal < 3)", atomic, anchor, ratio)
}
