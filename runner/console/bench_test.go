package console

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// benchLog builds a console log of about size bytes from the corpus logs
// of the given categories (all if none).
func benchLog(tb testing.TB, size int, categories ...string) []byte {
	tb.Helper()
	names, err := filepath.Glob(filepath.Join("testdata", "corpus", "*.log"))
	if err != nil || len(names) == 0 {
		tb.Fatalf("no corpus logs: %v", err)
	}
	var one bytes.Buffer
	for _, name := range names {
		if len(categories) > 0 {
			var e expectation
			j, err := os.ReadFile(strings.TrimSuffix(name, ".log") + ".json")
			if err != nil {
				tb.Fatal(err)
			}
			if err := json.Unmarshal(j, &e); err != nil {
				tb.Fatal(err)
			}
			if !slices.Contains(categories, e.Category) {
				continue
			}
		}
		b, err := os.ReadFile(name)
		if err != nil {
			tb.Fatal(err)
		}
		one.Write(b)
	}
	log := make([]byte, 0, size+one.Len())
	for len(log) < size {
		log = append(log, one.Bytes()...)
	}
	return log
}

// BenchmarkAnalyzer measures throughput on a 50 MB log of good boots and
// test runs (the corpus's clean and test logs, over and over), written in
// 64 KiB reads as the runner copies the console.
func BenchmarkAnalyzer(b *testing.B) {
	benchmarkAnalyzer(b, benchLog(b, 50<<20, "clean", "tests"))
}

// BenchmarkAnalyzerCrashes does the same with the whole corpus, where
// most logs crash: the slow path.
func BenchmarkAnalyzerCrashes(b *testing.B) {
	benchmarkAnalyzer(b, benchLog(b, 50<<20))
}

func benchmarkAnalyzer(b *testing.B, log []byte) {
	const chunk = 64 << 10
	b.SetBytes(int64(len(log)))
	b.ReportAllocs()
	// The machine may be shared: beside wall-clock MB/s, report MB per
	// second of CPU time this process used (all threads, GC included).
	cpu0 := cpuTime(b)
	b.ResetTimer()
	for range b.N {
		a := New(Options{})
		for p := log; len(p) > 0; {
			n := min(chunk, len(p))
			a.Write(p[:n])
			p = p[n:]
		}
		a.Close()
	}
	b.StopTimer()
	if cpu := cpuTime(b) - cpu0; cpu > 0 {
		b.ReportMetric(float64(len(log))*float64(b.N)/cpu.Seconds()/1e6, "cpu-MB/s")
	}
}

// cpuTime is the user and system time this process has used.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
